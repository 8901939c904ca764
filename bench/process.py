"""``conveyor bench process``'s throughput: one worker process beside the raw
consume-transform-produce loop, with and without transactions, in one run.

The same orders are preloaded into three topics. One ``conveyor worker`` drains the
first: Avro decode, validate and enrich, revenue windows, job rows behind the
``event_id`` gate and outputs through the transactional outbox. The raw loop
(``bench/raw_loop.py``) drains the others with the same decode, enrich and revenue
functions: at-least-once (the ratio prices the gate, the store and the transactions)
and with a transaction a batch (the ratio prices the gate and the store).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import create_engine, func, select

from conveyor.bench.raw_loop import raw_loop
from conveyor.bench.services import bench_settings, bench_stream, worker_process
from conveyor.client.samples import sample_orders
from conveyor.config import Settings
from conveyor.producers.direct import DirectProducer
from conveyor.store.jobs import FINAL_STATUSES
from conveyor.store.tables import jobs, outbox

__all__ = ["bench_process"]

Note = Callable[[str], None]


def bench_process(settings: Settings, events: int, note: Note) -> dict[str, Any]:
    """One worker's events/s beside each raw loop's, and their ratios."""
    # A broker and registry just started by the bench are still compiling their hot
    # paths: a first, unmeasured round of each loop keeps that out of both figures.
    warmup = sample_orders(events // 5, datetime.now(UTC), seed=10)
    note(f"warming up: {len(warmup):,} orders through each loop, not measured")
    _raw_throughput(settings, warmup, transactional=False)
    _worker_throughput(settings, warmup, note)
    orders = sample_orders(events, datetime.now(UTC), seed=11)
    rates = {}
    for name, transactional in (("raw_loop", False), ("raw_txn_loop", True)):
        loop = f"raw loop{' with transactions' if transactional else ''}"
        note(f"{loop}: {events:,} orders")
        rates[name] = _raw_throughput(settings, orders, transactional=transactional)
        note(f"{loop}: {rates[name]:,.0f} events/s")
    worker_rate = _worker_throughput(settings, orders, note)
    note(f"conveyor worker: {worker_rate:,.0f} events/s")
    return {
        "events": events,
        "worker_events_per_s": round(worker_rate),
        "raw_loop_events_per_s": round(rates["raw_loop"]),
        "raw_txn_loop_events_per_s": round(rates["raw_txn_loop"]),
        "process_ratio": round(worker_rate / rates["raw_loop"], 3),
        "process_txn_ratio": round(worker_rate / rates["raw_txn_loop"], 3),
    }


def _raw_throughput(
    settings: Settings, orders: list[dict[str, Any]], *, transactional: bool
) -> float:
    stream = bench_stream(settings, "orders", "raw")
    with DirectProducer(settings, stream) as producer:
        producer.send(orders)
    with raw_loop(settings, stream, len(orders), transactional=transactional) as result:
        return len(orders) / result()


def _worker_throughput(settings: Settings, orders: list[dict[str, Any]], note: Note) -> float:
    """Events/s from the worker's first claim to the last output published."""
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
                        # From the first claim: the orders were sent before the worker
                        # started, and their accepted_at (the records' ce_time) would count
                        # its start-up and group join against it.
                        began = conn.execute(select(func.min(jobs.c.started_at))).scalar_one()
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
