"""Tracing's switches: off makes no provider at all; a sampled share keeps whole traces."""

from __future__ import annotations

import random

from conveyor.config import TelemetrySettings
from conveyor.kafka.identity import child_traceparent
from conveyor.runtime.tracing import remote_parent, traceparent, tracer_provider_from


def test_without_an_endpoint_tracing_is_off_and_makes_no_provider() -> None:
    assert tracer_provider_from(TelemetrySettings(), "conveyor-worker") is None


def test_the_api_and_a_worker_sampling_a_share_keep_the_same_traces_whole() -> None:
    # Nothing is exported: the spans are never ended, only asked whether they record.
    settings = TelemetrySettings(otlp_endpoint="http://127.0.0.1:9", sample_ratio=0.5)
    api_provider = tracer_provider_from(settings, "conveyor-api")
    worker_provider = tracer_provider_from(settings, "conveyor-worker")
    assert api_provider is not None
    assert worker_provider is not None
    api, worker = api_provider.get_tracer("api"), worker_provider.get_tracer("worker")
    draw = random.Random(7)
    kept = 0
    for _ in range(200):
        caller = f"00-{draw.getrandbits(128):032x}-{draw.getrandbits(64):016x}-01"
        request = api.start_span("POST", context=remote_parent(caller))
        # From the API's produce span, or (its tracing off) a sampled child of the caller's.
        for parent in (traceparent(request), child_traceparent(caller)):
            process = worker.start_span("process", context=remote_parent(parent))
            assert process.is_recording() == request.is_recording()
        kept += request.is_recording()
    api_provider.shutdown()
    worker_provider.shutdown()
    assert 60 < kept < 140  # about half
