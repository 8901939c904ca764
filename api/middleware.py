"""Counting requests by route template and status, as a plain ASGI middleware."""

from __future__ import annotations

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from conveyor.api.metrics import ApiMetrics

__all__ = ["RequestMetrics"]


class RequestMetrics:
    def __init__(self, app: ASGIApp, metrics: ApiMetrics, exact_paths: frozenset[str]) -> None:
        self._app = app
        self._metrics = metrics
        # Routes without parameters (the event routes) are their own template.
        self._exact_paths = exact_paths

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self._app(scope, receive, send)
            return
        status = 500

        async def recording_send(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self._app(scope, receive, recording_send)
        finally:
            # The template (/v1/jobs/{event_id}), never the raw path: ids must not
            # become label values. path_format: without convertors such as ":path".
            path = scope["path"]
            if path not in self._exact_paths:
                path = getattr(scope.get("route"), "path_format", "unmatched")
            self._metrics.requests.labels(path, scope["method"], str(status)).inc()
