"""One trace per event: from the POST through the produce and Kafka's ``traceparent`` header
to the worker's processing and its result-store write."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from fastapi.testclient import TestClient
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import format_span_id, format_trace_id

from conveyor.api import create_app
from conveyor.config import Settings, TelemetrySettings
from support.events import orders_json, read_topic
from support.otlp import ReceivedSpan, otlp_receiver
from support.waiting import wait_for
from support.workers import running_workers

CALLER_TRACE = "4bf92f3577b34da6a3ce929d0e0e4736"
CALLER_SPAN = "00f067aa0ba902b7"


def _ids(span: ReadableSpan) -> tuple[str, str, str]:
    """(trace id, span id, parent span id) in hex, as a traceparent writes them."""
    context, parent = span.get_span_context(), span.parent
    assert context is not None
    return (
        format_trace_id(context.trace_id),
        format_span_id(context.span_id),
        format_span_id(parent.span_id) if parent else "",
    )


def test_an_event_is_one_trace_from_the_callers_post_to_the_workers_result_store_write(
    stack_settings: Callable[..., Settings], tmp_path: Path
) -> None:
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    with otlp_receiver() as receiver:
        base = stack_settings()
        config = base.model_copy(
            update={"telemetry": TelemetrySettings(otlp_endpoint=receiver.endpoint)}
        )
        orders = config.streams["orders"]
        with (
            TestClient(create_app(config, tracer_provider=provider)) as api,
            running_workers(config, tmp_path),
        ):
            response = api.post(
                f"/v1/streams/{orders.name}/events",
                json=orders_json(1)[0],
                headers={"traceparent": f"00-{CALLER_TRACE}-{CALLER_SPAN}-01"},
            )
            assert response.status_code == 202, response.text
            event_id = response.json()["event_id"]
            wait_for(
                lambda: api.get(f"/v1/jobs/{event_id}").json()["status"] == "succeeded",
                what="the order to succeed",
            )
            enriched = read_topic(config, orders.outputs["enriched"].topic, 1)
            worker_spans = wait_for(
                lambda: _worker_spans(receiver.received(), event_id),
                what="the worker's spans at the OTLP receiver",
            )

    api_spans = {span.name: span for span in exporter.get_finished_spans()}
    request = api_spans[f"POST /v1/streams/{orders.name}/events"]
    publish = api_spans[f"publish {orders.topic}"]
    process, settle = worker_spans
    request_trace, request_id, request_parent = _ids(request)
    publish_trace, publish_id, publish_parent = _ids(publish)

    # The caller's trace goes on: the API's request span is the caller's span's child,
    # its produce span is the request's child, and the worker's is the produce's.
    assert request_trace == publish_trace == process.trace_id == CALLER_TRACE
    assert request_parent == CALLER_SPAN
    assert publish_parent == request_id
    assert process.parent_id == publish_id
    assert (settle.trace_id, settle.parent_id) == (CALLER_TRACE, process.span_id)
    assert request.attributes is not None
    assert request.attributes["http.response.status_code"] == 202
    assert process.service == "conveyor-worker"
    assert process.attributes["conveyor.job.status"] == "succeeded"
    assert process.attributes["conveyor.duplicate"] is False
    assert process.attributes["messaging.destination.name"] == orders.topic
    assert process.attributes["conveyor.handler.seconds"] > 0
    assert settle.name == f"settle {orders.name}"
    assert settle.attributes["db.system.name"] == "sqlite"
    # The enriched record carries the trace on for whoever reads the output topic.
    traceparent = enriched[0]["headers"]["traceparent"].decode()
    assert traceparent.split("-")[1] == CALLER_TRACE


def _worker_spans(
    spans: list[ReceivedSpan], event_id: str
) -> tuple[ReceivedSpan, ReceivedSpan] | None:
    """The worker's process and settle spans of ``event_id``, once both arrived."""
    process = next((s for s in spans if s.attributes.get("messaging.message.id") == event_id), None)
    if process is None:
        return None
    settle = next((s for s in spans if s.parent_id == process.span_id), None)
    return None if settle is None else (process, settle)
