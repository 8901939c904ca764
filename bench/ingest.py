"""``conveyor bench ingest``: the API's ingest rate beside the bare producer's, in one run.

The baseline is confluent-kafka's ``Producer`` doing the same work the API does
after validation: the same records (key, Avro value, CloudEvents headers), the same
``acks=all`` idempotent, murmur2, lz4 configuration, to a topic of the same shape. The API is a real
``conveyor api`` process; the load comes from a separate process over loopback.
"""

from __future__ import annotations

import json
import statistics
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from conveyor.bench.loadgen import LoadResult, http_post, run_load
from conveyor.bench.report import Samples, percentiles
from conveyor.bench.services import api_process, bench_settings, bench_stream
from conveyor.client.samples import json_ready, sample_orders
from conveyor.config import Settings, StreamDeclaration
from conveyor.producers.direct import DirectProducer

__all__ = ["IngestPlan", "bench_ingest"]

Note = Callable[[str], None]


class IngestPlan:
    """How much to send: sized so each figure takes seconds, not milliseconds."""

    def __init__(
        self,
        events: int = 100_000,
        batch_size: int = 500,
        single_requests: int = 30_000,
        concurrency: int = 64,
        rounds: int = 3,
    ) -> None:
        self.rounds = rounds
        self.events = events
        self.batch_size = batch_size
        self.single_requests = single_requests
        self.concurrency = concurrency


def bench_ingest(
    settings: Settings, plan: IngestPlan, note: Note
) -> tuple[dict[str, Any], Samples]:
    """The figures, and the single-event requests' latencies (``api_single``)."""
    raw_stream = bench_stream(settings, "orders", "raw")
    api_stream = bench_stream(settings, "orders", "api")
    records = sample_orders(plan.events, datetime.now(UTC), seed=3)

    bodies = [json_ready(r) for r in records]
    raw_rates: list[float] = []
    batch_rates: list[float] = []
    with (
        bench_settings(settings, api_stream) as config,
        api_process(config) as (host, port, _),
    ):
        path = f"/v1/streams/{api_stream.name}/events"
        batches = [
            http_post(
                host,
                port,
                path,
                json.dumps(bodies[i : i + plan.batch_size]).encode(),
                "application/json",
            )
            for i in range(0, len(bodies), plan.batch_size)
        ]
        singles = [
            http_post(host, port, path, json.dumps(b).encode(), "application/json")
            for b in bodies[:20_000]
        ]
        note("warming up the API")
        run_load(host, port, singles, 2_000, plan.concurrency)
        # Interleaved rounds, medians reported: the broker shares this machine, and a
        # single run of either side can catch it compacting or collecting garbage.
        for round_ in range(1, plan.rounds + 1):
            note(f"round {round_}/{plan.rounds}: raw producer, {plan.events:,} events")
            raw_rates.append(_raw_producer(settings, raw_stream, records))
            note(f"round {round_}/{plan.rounds}: API batches of {plan.batch_size}")
            batch = run_load(host, port, batches, len(batches), 4)
            _require_all_accepted(batch)
            batch_rates.append(plan.events / batch.seconds)
        note(
            f"API single-event requests: {plan.single_requests:,} at concurrency {plan.concurrency}"
        )
        single = run_load(host, port, singles, plan.single_requests, plan.concurrency)
    _require_all_accepted(single)

    raw_rate, batch_rate = statistics.median(raw_rates), statistics.median(batch_rates)
    p50, p99 = percentiles(single.latencies)
    figures = {
        "raw_producer_events_per_s": round(raw_rate),
        "api_batch_events_per_s": round(batch_rate),
        "api_batch_size": plan.batch_size,
        "batch_ratio": round(batch_rate / raw_rate, 3),
        "api_single_requests_per_s": round(single.requests / single.seconds),
        "api_single_concurrency": plan.concurrency,
        "api_single_p50_ms": round(p50 * 1000, 2),
        "api_single_p99_ms": round(p99 * 1000, 2),
        "events": plan.events,
        "rounds": plan.rounds,
        "raw_producer_rounds": [round(r) for r in raw_rates],
        "api_batch_rounds": [round(r) for r in batch_rates],
    }
    return figures, {"api_single": single.latencies}


def _raw_producer(
    settings: Settings, stream: StreamDeclaration, records: list[dict[str, Any]]
) -> float:
    with DirectProducer(settings, stream) as producer:
        began = time.perf_counter()
        producer.send(records)
        return len(records) / (time.perf_counter() - began)


def _require_all_accepted(*results: LoadResult) -> None:
    for result in results:
        refused = {s: n for s, n in result.statuses.items() if s != 202}
        if refused:
            raise RuntimeError(f"the API refused requests during the benchmark: {refused}")
