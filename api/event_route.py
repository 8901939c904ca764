"""``POST /v1/streams/{stream}/events`` of one stream, as a plain ASGI app.

The API's hot path, so it meets the server first (see ``app.py``): FastAPI's and
Starlette's middleware, routing and Request/Response objects cost ~45 % of the CPU of
a single-event request in front of ~55 % of work of its own (py-spy, README), and this
route needs none of them. What it does need of them is here: the requests counted by
status, an :class:`ApiError` answered as the exception handler answers it.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from prometheus_client import Counter
from pydantic_core import to_json
from starlette.requests import ClientDisconnect
from starlette.responses import JSONResponse
from starlette.types import Receive, Scope, Send

from conveyor.api.body import read_limited
from conveyor.api.callbacks import CALLBACK_HEADER, callback_headers
from conveyor.api.exceptions import ApiError
from conveyor.api.ingest import StreamIngest
from conveyor.api.state import AppState

__all__ = ["EventRoute", "error_response", "event_path"]

# nginx's code for a request whose client left before it was answered.
CLIENT_CLOSED = 499


def event_path(stream: str) -> str:
    return f"/v1/streams/{stream}/events"


def error_response(exc: ApiError) -> JSONResponse:
    """How every route answers a refusal: ``{"detail": ...}`` with its status and headers."""
    return JSONResponse({"detail": exc.detail}, status_code=exc.status, headers=exc.headers)


class EventRoute:
    """One stream's event route: a request's events validated, produced, answered 202."""

    def __init__(self, state: AppState, ingest: StreamIngest) -> None:
        self._state = state
        self._ingest = ingest
        self._path = event_path(ingest.stream.name)
        self._limit = state.settings.api.max_body_bytes
        self._counted: dict[int, Counter] = {}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        headers = _headers(scope)
        status = 500  # what an unexpected error is answered with, by the server
        try:
            try:
                content = await self._accepted(headers, receive)
            except ApiError as exc:
                status = exc.status
                await error_response(exc)(scope, receive, send)
            else:
                status = 202
                await _send_json(send, status, to_json(content))
        except ClientDisconnect:
            status = CLIENT_CLOSED
        finally:
            self._count(status)

    async def _accepted(self, headers: Mapping[str, str], receive: Receive) -> Any:
        tracing = self._state.tracing
        if tracing is None:
            return await self._accept(headers, receive)
        name = self._ingest.stream.name
        with tracing.request("POST", self._path, name, headers.get("traceparent")) as span:
            content = await self._accept(headers, receive)
            span.set_attribute("http.response.status_code", 202)
            return content

    async def _accept(self, headers: Mapping[str, str], receive: Receive) -> Any:
        """The answer's content: the receipt, or ``{"events": receipts}`` for a batch."""
        state, ingest = self._state, self._ingest
        key = state.auth.authenticate(headers)
        state.auth.authorize(key, ingest.stream.name)
        callback = callback_headers(state.settings, key, headers.get(CALLBACK_HEADER))
        body = await read_limited(receive, headers.get("content-length"), self._limit)
        parsed = ingest.reader.read(body, headers.get("content-type", ""))
        ingestor = state.require_running().ingestor
        receipts = await ingestor.accept(ingest, parsed.events, headers, callback)
        return {"events": receipts} if parsed.batch else receipts[0]

    def _count(self, status: int) -> None:
        # Labelled once per status, not looked up again by every request.
        counter = self._counted.get(status)
        if counter is None:
            counter = self._state.metrics.requests.labels(self._path, "POST", str(status))
            self._counted[status] = counter
        counter.inc()


def _headers(scope: Scope) -> dict[str, str]:
    """The request's headers by name, made once rather than searched for each name. ASGI
    servers give names lowercase; of a repeated header the first counts, as in Starlette."""
    return {
        name.decode("latin-1"): value.decode("latin-1")
        for name, value in reversed(scope["headers"])
    }


async def _send_json(send: Send, status: int, body: bytes) -> None:
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})
