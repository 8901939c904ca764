"""``POST /v1/streams/{stream}/events``: one route per declared stream."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from conveyor.api.body import NDJSON, parse_events, read_limited
from conveyor.api.errors import NotFoundError
from conveyor.api.ingest import StreamIngest
from conveyor.api.state import AppState

__all__ = ["events_router"]


def events_router(state: AppState) -> APIRouter:
    router = APIRouter(prefix="/v1/streams", tags=["events"])
    for ingest in state.streams.values():
        router.add_api_route(
            f"/{ingest.stream.name}/events",
            _handler(state, ingest),
            methods=["POST"],
            status_code=202,
            name=f"post_{ingest.stream.name}_events",
            summary=f"Send {ingest.stream.name} events",
            description=_description(ingest),
            openapi_extra=_openapi_body(ingest),
            responses=_RESPONSES,
        )

    @router.post("/{stream}/events", include_in_schema=False)
    async def unknown_stream(stream: str) -> None:
        known = ", ".join(sorted(state.streams))
        raise NotFoundError(f"unknown stream {stream!r}; streams: {known}")

    return router


def _handler(state: AppState, ingest: StreamIngest) -> Any:
    settings = state.settings.api

    async def post_events(request: Request) -> JSONResponse:
        key = state.auth.authenticate(request)
        state.auth.authorize(key, ingest.stream.name)
        body = await read_limited(request, settings.max_body_bytes)
        parsed = parse_events(
            body, request.headers.get("content-type", ""), ingest.model, settings.max_batch_items
        )
        receipts = await state.parts().ingestor.accept(ingest, parsed.events, request.headers)
        content: Any = {"events": receipts} if parsed.batch else receipts[0]
        return JSONResponse(content, status_code=202)

    return post_events


def _description(ingest: StreamIngest) -> str:
    stream = ingest.stream
    return (
        f"One `{ingest.model.__name__}` object, a JSON array of them, or `{NDJSON}` lines. "
        f"Events are keyed by `{stream.key}` on topic `{stream.topic}` "
        f"({stream.partitions} partitions, {stream.ordering} ordering). "
        "Answered 202 once Kafka acknowledged every event; a batch is accepted whole or "
        "refused whole. `event_id` may be given per event or by the `Idempotency-Key` header."
    )


def _openapi_body(ingest: StreamIngest) -> dict[str, Any]:
    ref = {"$ref": f"#/components/schemas/{ingest.model.__name__}"}
    return {
        "requestBody": {
            "required": True,
            "content": {
                "application/json": {
                    "schema": {"anyOf": [ref, {"type": "array", "items": ref, "minItems": 1}]}
                },
                NDJSON: {"schema": ref},
            },
        }
    }


_RESPONSES: dict[int | str, dict[str, Any]] = {
    202: {"description": "Accepted: every event is on Kafka; receipts in request order."},
    401: {"description": "Missing or invalid API key."},
    403: {"description": "The key may not use this stream."},
    413: {"description": "Body or batch over its limit; the limit is in `detail`."},
    415: {"description": "Not JSON or NDJSON."},
    422: {"description": "Invalid events: `detail` lists index, field path and reason."},
    429: {"description": "Over the key's rate; see `Retry-After`."},
    503: {
        "description": "Not now (producer buffer full, or backlog over `max_backlog`); "
        "see `Retry-After`. Nothing, or only the listed events, reached Kafka."
    },
}
