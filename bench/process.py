"""``conveyor bench process``: one worker process beside a raw consume-transform-produce
loop, in one run.

Throughput: the same orders are preloaded into two topics. One ``conveyor worker``
drains the first: Avro decode, validate and enrich, revenue windows, job rows behind
the ``event_id`` gate and outputs through the transactional outbox. The raw loop, a
bare confluent-kafka ``Consumer`` and ``Producer``, drains the second with the same
decode, the same enrich and revenue functions and the same producer configuration,
producing, flushing and committing offsets per batch (at-least-once, no result
store): the ratio is the price of the gate, the store and the transactions.

Latency: orders at a steady rate, from the POST to the API until the enriched record
is visible to a ``read_committed`` reader, beside the raw loop fed by a bare producer
at the same rate.
"""

from __future__ import annotations

import json
import multiprocessing
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any

from confluent_kafka import OFFSET_BEGINNING, Consumer, Message, Producer, TopicPartition
from sqlalchemy import create_engine, func, select

from conveyor.bench.loadgen import http_post, run_load
from conveyor.bench.report import Samples, percentiles
from conveyor.bench.services import api_process, bench_settings, bench_stream, worker_process
from conveyor.client.samples import json_ready, sample_orders
from conveyor.config import Settings, StreamDeclaration
from conveyor.kafka.admin import admin_client
from conveyor.kafka.config import producer_config
from conveyor.kafka.identity import child_traceparent, cloudevent_headers
from conveyor.monitoring.groups import has_stable_members
from conveyor.processors.pipeline.orders import enrich, revenue_deltas, revenue_total
from conveyor.producers.direct import DirectProducer
from conveyor.schemas import registry_client
from conveyor.schemas.serde import AvroDecoder, AvroEncoder, register_value_schema
from conveyor.store.jobs import FINAL_STATUSES
from conveyor.store.tables import jobs, outbox

__all__ = ["ProcessPlan", "bench_process"]

Note = Callable[[str], None]


class ProcessPlan:
    def __init__(self, events: int = 50_000, rate: int = 1_000, seconds: int = 10) -> None:
        self.events = events
        self.rate = rate
        self.seconds = seconds


def bench_process(
    settings: Settings, plan: ProcessPlan, note: Note
) -> tuple[dict[str, Any], Samples]:
    """The figures, and the end-to-end latencies of conveyor (``e2e``) and the raw loop
    (``raw_e2e``)."""
    # A broker and registry just started by the bench are still compiling their hot
    # paths: a first, unmeasured round of each loop keeps that out of both figures.
    warmup = sample_orders(plan.events // 5, datetime.now(UTC), seed=10)
    note(f"warming up: {len(warmup):,} orders through each loop, not measured")
    _raw_throughput(settings, warmup)
    _worker_throughput(settings, warmup, note)
    orders = sample_orders(plan.events, datetime.now(UTC), seed=11)
    note(f"raw loop: {plan.events:,} orders")
    raw_rate = _raw_throughput(settings, orders)
    note(f"raw loop: {raw_rate:,.0f} events/s")
    worker_rate = _worker_throughput(settings, orders, note)
    note(f"conveyor worker: {worker_rate:,.0f} events/s")

    paced = sample_orders(plan.rate * plan.seconds, datetime.now(UTC), seed=12)
    note(f"end-to-end latency at {plan.rate:,}/s for {plan.seconds} s: raw loop")
    raw_latencies = _raw_latencies(settings, paced, plan.rate)
    note(f"end-to-end latency at {plan.rate:,}/s for {plan.seconds} s: API and worker")
    latencies = _conveyor_latencies(settings, paced, plan.rate)
    raw_p50, raw_p99 = percentiles(raw_latencies)
    p50, p99 = percentiles(latencies)
    figures = {
        "events": plan.events,
        "worker_events_per_s": round(worker_rate),
        "raw_loop_events_per_s": round(raw_rate),
        "process_ratio": round(worker_rate / raw_rate, 3),
        "latency_rate_per_s": plan.rate,
        "latency_events": len(paced),
        "e2e_p50_ms": round(p50 * 1000, 1),
        "e2e_p99_ms": round(p99 * 1000, 1),
        "raw_e2e_p50_ms": round(raw_p50 * 1000, 1),
        "raw_e2e_p99_ms": round(raw_p99 * 1000, 1),
    }
    return figures, {"e2e": latencies, "raw_e2e": raw_latencies}


def _raw_throughput(settings: Settings, orders: list[dict[str, Any]]) -> float:
    stream = bench_stream(settings, "orders", "raw")
    with DirectProducer(settings, stream) as producer:
        producer.send(orders)
    with _raw_loop(settings, stream, len(orders)) as result:
        return len(orders) / result()


def _worker_throughput(settings: Settings, orders: list[dict[str, Any]], note: Note) -> float:
    """Events/s from the worker's first job row to the last output published."""
    stream = bench_stream(settings, "orders", "worker")
    with DirectProducer(settings, stream) as producer:
        producer.send(orders)
    with bench_settings(settings, stream) as config, worker_process(config):
        engine = create_engine(config.database_url)
        final = [s.value for s in FINAL_STATUSES]
        next_note = 0.0
        try:
            while True:
                with engine.connect() as conn:
                    done = conn.execute(
                        select(func.count()).select_from(jobs).where(jobs.c.status.in_(final))
                    ).scalar_one()
                    pending = conn.execute(select(func.count()).select_from(outbox)).scalar_one()
                    if done == len(orders) and pending == 0:
                        finished = datetime.now(UTC)
                        began = conn.execute(select(func.min(jobs.c.accepted_at))).scalar_one()
                        failed = conn.execute(
                            select(func.count()).where(jobs.c.status != "succeeded")
                        ).scalar_one()
                        break
                if time.monotonic() >= next_note:
                    settled = f"{done:,}/{len(orders):,} settled"
                    note(f"conveyor worker: {settled}, {pending:,} to publish")
                    next_note = time.monotonic() + 1.0
                # The clock stops at the poll that sees the end: a second between polls
                # would count up to a tenth of a 10-second run against the worker.
                time.sleep(0.1)
        finally:
            engine.dispose()
    if failed:
        raise RuntimeError(f"{failed} benchmark orders did not succeed; see the worker's log")
    # SQLite keeps the worker's UTC times without their zone.
    seconds: float = (finished - began.replace(tzinfo=UTC)).total_seconds()
    return len(orders) / seconds


def _raw_latencies(settings: Settings, orders: list[dict[str, Any]], rate: int) -> list[float]:
    stream = bench_stream(settings, "orders", "raw-e2e")
    with (
        _raw_loop(settings, stream, len(orders)),
        _arrivals(settings, stream.outputs["enriched"].topic, len(orders)) as arrived,
        DirectProducer(settings, stream) as producer,
    ):
        sent = producer.send(orders, rate=rate)
        return _latencies(orders, sent, arrived())


def _conveyor_latencies(settings: Settings, orders: list[dict[str, Any]], rate: int) -> list[float]:
    stream = bench_stream(settings, "orders", "e2e")
    with (
        bench_settings(settings, stream) as config,
        api_process(config) as (host, port),
        worker_process(config),
        _arrivals(settings, stream.outputs["enriched"].topic, len(orders)) as arrived,
    ):
        path = f"/v1/streams/{stream.name}/events"
        requests = [
            http_post(host, port, path, json.dumps(json_ready(o)).encode(), "application/json")
            for o in orders
        ]
        load = run_load(host, port, requests, len(requests), 16, rate=rate)
        if refused := {s: n for s, n in load.statuses.items() if s != 202}:
            raise RuntimeError(f"the API refused requests during the benchmark: {refused}")
        return _latencies(orders, load.sent_at, arrived())


def _latencies(
    orders: list[dict[str, Any]], sent: list[float], arrived: dict[str, float]
) -> list[float]:
    return [arrived[o["event_id"]] - at for o, at in zip(orders, sent, strict=True)]


@contextmanager
def _arrivals(
    settings: Settings, topic: str, expected: int
) -> Iterator[Callable[[], dict[str, float]]]:
    """Read ``topic`` (``read_committed``) in a thread while the block runs; the callable
    waits for ``expected`` records and returns when each ``ce_id`` arrived."""
    consumer = Consumer(
        {
            **settings.kafka.librdkafka_config(),
            "group.id": "conveyor-bench-reader",
            "isolation.level": "read_committed",
            "enable.auto.commit": "false",
            # Answer as soon as a record is readable: the reader must not add latency.
            "fetch.wait.max.ms": "5",
        }
    )
    partitions = consumer.list_topics(topic, timeout=10).topics[topic].partitions
    consumer.assign([TopicPartition(topic, p, OFFSET_BEGINNING) for p in partitions])
    arrivals: dict[str, float] = {}
    stop = threading.Event()

    def read() -> None:
        while not stop.is_set() and len(arrivals) < expected:
            for msg in consumer.consume(500, timeout=0.1):
                if msg.error() is None:
                    arrivals.setdefault(_header(msg, "ce_id") or "", time.time())

    thread = threading.Thread(target=read, name="bench-reader", daemon=True)
    thread.start()

    def wait() -> dict[str, float]:
        thread.join(timeout=120)
        if len(arrivals) < expected:
            raise RuntimeError(f"only {len(arrivals)} of {expected} records reached {topic}")
        return arrivals

    try:
        yield wait
    finally:
        stop.set()
        thread.join()
        consumer.close()


@contextmanager
def _raw_loop(
    settings: Settings, stream: StreamDeclaration, expected: int
) -> Iterator[Callable[[], float]]:
    """The raw loop in its own process (as the worker is), ready once it holds its
    partitions; the callable waits for it and returns its seconds from first batch to
    last commit."""
    group = f"{stream.topic}.raw"
    with multiprocessing.get_context("spawn").Pool(1) as pool:
        result = pool.apply_async(_consume_transform_produce, (settings, stream, group, expected))
        admin = admin_client(settings.kafka)
        while not has_stable_members(admin, group, 1) and not result.ready():
            time.sleep(0.1)
        yield lambda: float(result.get(timeout=600))


def _consume_transform_produce(
    settings: Settings, stream: StreamDeclaration, group: str, expected: int
) -> float:
    consumer = Consumer(
        {
            **settings.kafka.librdkafka_config(),
            "group.id": group,
            "auto.offset.reset": "earliest",
            "enable.auto.commit": "false",
        }
    )
    consumer.subscribe([stream.topic])
    producer = Producer(producer_config(settings.kafka))
    enriched, revenue = stream.outputs["enriched"], stream.outputs["revenue"]
    with registry_client(settings.schema_registry) as registry:
        decoder = AvroDecoder(stream.avro_schema, registry)
        encode_enriched = AvroEncoder(
            enriched.avro_schema, register_value_schema(registry, enriched)
        ).encode
        encode_revenue = AvroEncoder(
            revenue.avro_schema, register_value_schema(registry, revenue)
        ).encode
        totals: dict[Any, tuple[int, int]] = {}
        done, began = 0, 0.0
        try:
            while done < expected:
                batch = consumer.consume(
                    settings.workers.batch_size, timeout=settings.workers.batch_seconds
                )
                if not batch:
                    continue
                began = began or time.perf_counter()
                now = datetime.now(UTC)
                enriched_headers = cloudevent_headers(f"/raw/{stream.name}/enriched", "e", now)
                revenue_headers = cloudevent_headers(f"/raw/{stream.name}/revenue", "r", now)
                values = []
                for msg in batch:
                    value = decoder.decode(msg.value())
                    values.append(value)
                    parent = _header(msg, "traceparent")
                    out = enrich(value)
                    producer.produce(
                        enriched.topic,
                        key=str(out[enriched.key]).encode(),
                        value=encode_enriched(out),
                        headers=enriched_headers(out["event_id"], child_traceparent(parent)),
                    )
                for key, (cents, count) in revenue_deltas(values).items():
                    old = totals.get(key, (0, 0))
                    totals[key] = (old[0] + cents, old[1] + count)
                    total = revenue_total(key, *totals[key])
                    producer.produce(
                        revenue.topic,
                        key=total["window"].encode(),
                        value=encode_revenue(total),
                        headers=revenue_headers(
                            f"{total['window']}#{total['orders']}", child_traceparent(None)
                        ),
                    )
                if producer.flush(60):
                    raise RuntimeError("the raw loop's producer did not deliver a batch")
                consumer.commit(asynchronous=False)
                done += len(batch)
            return time.perf_counter() - began
        finally:
            consumer.close()


def _header(msg: Message, name: str) -> str | None:
    headers = msg.headers() or []
    for key, value in headers.items() if isinstance(headers, dict) else headers:
        if key == name and value is not None:
            return value.decode() if isinstance(value, bytes) else value
    return None
