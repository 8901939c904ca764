"""The API's spans of a POST: the request (continuing the caller's ``traceparent``, if it
sent one) and, inside it, the produce, whose context every record of the request
carries in its ``traceparent`` header for the workers to continue.

Made only when tracing is configured (``telemetry.otlp_endpoint``); otherwise the
routes are the untraced ones and records carry a ``traceparent`` as before.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from opentelemetry.trace import Span, SpanKind, Status, StatusCode, Tracer

from conveyor.api.exceptions import ApiError
from conveyor.runtime.tracing import remote_parent, traceparent

__all__ = ["ApiTracing"]


class ApiTracing:
    def __init__(self, tracer: Tracer) -> None:
        self._tracer = tracer

    @contextmanager
    def request(self, method: str, route: str, stream: str, caller: str | None) -> Iterator[Span]:
        """The server span of a request to ``route`` (a path without parameters),
        continuing the ``caller``'s traceparent if it sent one; a refusal (4xx) is not the
        API's error, a 5xx is."""
        with self._tracer.start_as_current_span(
            f"{method} {route}",
            context=remote_parent(caller),
            kind=SpanKind.SERVER,
            attributes={
                "http.request.method": method,
                "http.route": route,
                "url.path": route,
                "conveyor.stream": stream,
            },
            record_exception=False,
            set_status_on_exception=False,
        ) as span:
            try:
                yield span
            except ApiError as exc:
                span.set_attribute("http.response.status_code", exc.status)
                if exc.status >= 500:
                    span.set_status(Status(StatusCode.ERROR, str(exc)))
                raise
            except Exception as exc:
                span.record_exception(exc)
                span.set_status(Status(StatusCode.ERROR, f"{type(exc).__name__}: {exc}"))
                raise

    @contextmanager
    def publish(self, topic: str, count: int) -> Iterator[str]:
        """The producer span of a request's records; yields the ``traceparent`` they carry."""
        with self._tracer.start_as_current_span(
            f"publish {topic}",
            kind=SpanKind.PRODUCER,
            attributes={
                "messaging.system": "kafka",
                "messaging.operation.type": "send",
                "messaging.destination.name": topic,
                "messaging.batch.message_count": count,
            },
        ) as span:
            yield traceparent(span)
