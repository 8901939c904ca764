"""OpenTelemetry tracing for the API and the workers: one trace per event, across Kafka.

Off unless ``telemetry.otlp_endpoint`` is set; then, and only then, the SDK is imported
and spans are exported over OTLP/HTTP in the background. Off, nothing of it runs: the
API and the workers check for a tracer once per request or batch and carry the W3C
``traceparent`` header on as before. A trace crosses Kafka in that header (see
``kafka/identity.py``): the API's produce span is the parent of every record it
writes, and the worker's span of an event is that span's child.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from opentelemetry.context import Context
from opentelemetry.trace import Span, format_span_id, format_trace_id
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

from conveyor import __version__
from conveyor.config import TelemetrySettings

if TYPE_CHECKING:
    from opentelemetry.sdk.trace import TracerProvider

__all__ = ["remote_parent", "traceparent", "tracer_provider_from"]

_PROPAGATOR = TraceContextTextMapPropagator()


def tracer_provider_from(settings: TelemetrySettings, service: str) -> TracerProvider | None:
    """The provider exporting ``service``'s spans as configured, or None when tracing is off.

    A provider of its own rather than OpenTelemetry's global one: an API and a test's
    in-memory exporter in one process must not see each other's spans. Shut it down on
    the way out to export what is still queued.
    """
    if settings.otlp_endpoint is None:
        return None
    # Imported here so that a process with tracing off never loads the SDK.
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import (  # noqa: PLC0415
        OTLPSpanExporter,
    )
    from opentelemetry.sdk.resources import Resource  # noqa: PLC0415
    from opentelemetry.sdk.trace import TracerProvider  # noqa: PLC0415
    from opentelemetry.sdk.trace.export import BatchSpanProcessor  # noqa: PLC0415
    from opentelemetry.sdk.trace.sampling import ParentBased, TraceIdRatioBased  # noqa: PLC0415

    # The share is drawn from the trace id, also under a sampled remote parent (the
    # worker's spans always have one, in the record's traceparent): the API and every
    # worker with the same ratio keep the same traces, whole.
    share = TraceIdRatioBased(settings.sample_ratio)
    provider = TracerProvider(
        resource=Resource.create({"service.name": service, "service.version": __version__}),
        sampler=ParentBased(root=share, remote_parent_sampled=share),
    )
    exporter = OTLPSpanExporter(
        endpoint=settings.otlp_endpoint.rstrip("/") + "/v1/traces",
        headers={k: v.get_secret_value() for k, v in settings.otlp_headers.items()},
    )
    provider.add_span_processor(BatchSpanProcessor(exporter))
    return provider


def traceparent(span: Span) -> str:
    """The W3C ``traceparent`` header naming ``span`` as the parent."""
    context = span.get_span_context()
    trace_id, span_id = format_trace_id(context.trace_id), format_span_id(context.span_id)
    return f"00-{trace_id}-{span_id}-{context.trace_flags:02x}"


def remote_parent(header: str | None) -> Context:
    """The context a ``traceparent`` header names (an empty one, starting a new trace, if
    the header is missing or malformed)."""
    return _PROPAGATOR.extract({"traceparent": header} if header else {})
