"""``POST /v1/streams/{stream}/events``: one route per declared stream, and their OpenAPI.

The routes themselves are plain ASGI apps (``event_route.py``) that the API calls before
FastAPI; FastAPI keeps the route of streams nobody declared. Their OpenAPI entries are
written here, from the same stream declarations and event models the routes validate with.
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI
from starlette.requests import Request
from starlette.responses import Response

from conveyor.api.body import NDJSON
from conveyor.api.event_route import EventRoute, event_path
from conveyor.api.exceptions import NotFoundError
from conveyor.api.idempotency import IDEMPOTENCY_HEADER, KEY_REUSED, key_schema
from conveyor.api.ingest import StreamIngest
from conveyor.api.state import AppState
from conveyor.config import StreamDeclaration

__all__ = ["add_unknown_stream_route", "event_paths", "event_routes"]


def event_routes(state: AppState) -> dict[str, EventRoute]:
    """Each declared stream's event route, by its path."""
    return {
        event_path(ingest.stream.name): EventRoute(state, ingest)
        for ingest in state.streams.values()
    }


def add_unknown_stream_route(app: FastAPI, state: AppState) -> None:
    """404 naming the streams there are, for a POST to one that is not declared."""

    async def unknown_stream(request: Request) -> Response:
        known = ", ".join(sorted(state.streams))
        stream = request.path_params["stream"]
        raise NotFoundError(f"unknown stream {stream!r}; streams: {known}")

    app.add_route(event_path("{stream}"), unknown_stream, methods=["POST"], include_in_schema=False)


def event_paths(state: AppState) -> dict[str, Any]:
    """The OpenAPI ``paths`` entries of the event routes."""
    return {
        event_path(ingest.stream.name): {
            "post": {
                "tags": ["events"],
                "summary": f"Send {ingest.stream.name} events",
                "description": _description(ingest),
                "operationId": f"post_{ingest.stream.name}_events",
                "parameters": [_IDEMPOTENCY_KEY],
                "requestBody": _request_body(ingest),
                "responses": _RESPONSES,
            }
        }
        for ingest in state.streams.values()
    }


def _description(ingest: StreamIngest) -> str:
    stream = ingest.stream
    return (
        f"One `{ingest.event.__name__}` object, a JSON array of them, or `{NDJSON}` lines. "
        f"Events are keyed by `{stream.key}` on topic `{stream.topic}` "
        f"({stream.partitions} partitions, {stream.ordering} ordering). "
        "Answered 202 once Kafka acknowledged every event; a batch is accepted whole or "
        "refused whole. `event_id` may be given per event or by the `Idempotency-Key` header."
        + _routing(stream)
        + _CALLBACK
    )


# Said in words, not declared as a parameter: whether a URL is accepted depends on the
# caller's key, which no schema of the header could tell a client (or schemathesis).
_CALLBACK = (
    " A `Conveyor-Callback-Url` header asks for each event's outcome to be POSTed there once "
    "its job ends, as a Standard Webhooks message signed with the key's `webhook_secret` "
    "(`webhook-id`: the event's id, a dot and its status); only for keys whose entry lists "
    "the URL's host in `callback_hosts` (else 422 naming the header)."
)


def _routing(stream: StreamDeclaration) -> str:
    """What the description says of the stream's priority levels and delays, if any."""
    said = ""
    if stream.priorities is not None:
        levels = ", ".join(f"`{level}`" for level in stream.priorities.levels)
        said += (
            f" Priority levels, highest first: {levels} (default `{stream.priorities.default}`),"
            " by the `priority` field or the `Conveyor-Priority` header."
        )
    if stream.delays is not None:
        said += (
            " An event with a `not_before` time (field, or the `Conveyor-Not-Before` header)"
            " is processed no earlier than then."
        )
    return said


def _request_body(ingest: StreamIngest) -> dict[str, Any]:
    ref = {"$ref": f"#/components/schemas/{ingest.event.__name__}"}
    return {
        "required": True,
        "content": {
            "application/json": {
                "schema": {"anyOf": [ref, {"type": "array", "items": ref, "minItems": 1}]}
            },
            NDJSON: {"schema": ref},
        },
    }


_IDEMPOTENCY_KEY = {
    "name": IDEMPOTENCY_HEADER,
    "in": "header",
    "required": False,
    "description": "The `event_id` of an event without one (`key:index` in a batch of "
    "several), by the rule an `event_id` obeys. Sending the same request again under the "
    "key is safe: its events keep their ids. A key stands for one request: sent with "
    f"another one it is refused (422, `{KEY_REUSED}`). Keys are remembered as long as the "
    "jobs they named.",
    "schema": key_schema(),
}
_PROBLEM = {"application/json": {"schema": {"type": "object", "properties": {"detail": {}}}}}
_RESPONSES: dict[str, dict[str, Any]] = {
    "202": {"description": "Accepted: every event is on Kafka; receipts in request order."},
    "401": {"description": "Missing or invalid API key.", "content": _PROBLEM},
    "403": {"description": "The key may not use this stream.", "content": _PROBLEM},
    "413": {"description": "Body or batch over its limit, named in `detail`.", "content": _PROBLEM},
    "415": {"description": "Not JSON or NDJSON.", "content": _PROBLEM},
    "422": {
        "description": "Invalid events or headers: `detail` lists index, field path (for a "
        f'header, `["header", name]`) and reason; `{KEY_REUSED}`: the key came with a '
        "different request first.",
        "content": _PROBLEM,
    },
    "429": {"description": "Over the key's rate; see `Retry-After`.", "content": _PROBLEM},
    "503": {
        "description": "Not now (producer buffer full, or backlog over `max_backlog`); "
        "see `Retry-After`. Nothing, or only the events listed, reached Kafka.",
        "content": _PROBLEM,
    },
}
