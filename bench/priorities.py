"""``conveyor bench priorities``: how long high-priority work waits beside a low backlog.

Low-priority orders are queued first, all at once (the bare producer, as a backlog
built up before the worker came); then one worker starts and high-priority orders
come through the API at a steady rate while it works through the backlog. Each order's
wait runs from its send to its job settling. The baseline is the low level itself, in
the same run: the ratios are high over low, and the smaller the better.
(``tests/integration/test_priorities.py`` checks the order things settle in; how long
they wait is this figure's, never a test's.)
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import create_engine, select

from conveyor.bench.loadgen import http_post, run_load
from conveyor.bench.report import Samples, percentiles
from conveyor.bench.services import api_process, bench_settings, bench_stream, worker_process
from conveyor.client.samples import json_ready, sample_orders
from conveyor.config import Priorities, Settings
from conveyor.producers.direct import DirectProducer
from conveyor.store.jobs import FINAL_STATUSES
from conveyor.store.tables import jobs

__all__ = ["PrioritiesPlan", "bench_priorities"]

Note = Callable[[str], None]

_LEVELS = Priorities(levels=("high", "low"), default="low")


class PrioritiesPlan:
    def __init__(self, backlog: int = 20_000, high: int = 400, rate: int = 100) -> None:
        self.backlog = backlog
        self.high = high
        self.rate = rate


def bench_priorities(
    settings: Settings, plan: PrioritiesPlan, note: Note
) -> tuple[dict[str, Any], Samples]:
    """The figures, and the waits of the high (``priority_high``) and low
    (``priority_low``) orders."""
    orders = settings.streams["orders"].model_copy(update={"priorities": _LEVELS})
    leveled = settings.model_copy(update={"streams": {**settings.streams, "orders": orders}})
    stream = bench_stream(leveled, "orders", "priorities")
    backlog = sample_orders(plan.backlog, datetime.now(UTC), seed=14)
    urgent = sample_orders(plan.high, datetime.now(UTC), seed=15)
    note(f"priorities: {plan.backlog:,} low-priority orders queued")
    with DirectProducer(settings, stream) as producer:
        backlog_sent = producer.send(backlog)
    with (
        bench_settings(settings, stream) as config,
        api_process(config) as (host, port, _),
        worker_process(config),
    ):
        note(f"priorities: {plan.high:,} high-priority orders at {plan.rate:,}/s meanwhile")
        path = f"/v1/streams/{stream.name}/events"
        requests = [
            http_post(
                host,
                port,
                path,
                json.dumps(json_ready(o)).encode(),
                "application/json",
                headers={"Conveyor-Priority": "high"},
            )
            for o in urgent
        ]
        load = run_load(host, port, requests, len(requests), 4, rate=plan.rate)
        if refused := {s: n for s, n in load.statuses.items() if s != 202}:
            raise RuntimeError(f"the API refused requests during the benchmark: {refused}")
        settled = _settled(config, plan.backlog + plan.high, note)
    high = _waits(urgent, load.sent_at, settled)
    low = _waits(backlog, backlog_sent, settled)
    (high_p50, high_p99), (low_p50, low_p99) = percentiles(high), percentiles(low)
    figures = {
        "backlog": plan.backlog,
        "high_events": plan.high,
        "high_rate_per_s": plan.rate,
        "high_p50_ms": round(high_p50 * 1000, 1),
        "high_p99_ms": round(high_p99 * 1000, 1),
        "low_p50_ms": round(low_p50 * 1000, 1),
        "low_p99_ms": round(low_p99 * 1000, 1),
        "p50_ratio": round(high_p50 / low_p50, 3),
        "p99_ratio": round(high_p99 / low_p99, 3),
    }
    return figures, {"priority_high": high, "priority_low": low}


def _settled(config: Settings, expected: int, note: Note) -> dict[str, float]:
    """When each job settled, once all ``expected`` have."""
    engine = create_engine(config.database_url)
    final = [s.value for s in FINAL_STATUSES]
    query = select(jobs.c.event_id, jobs.c.updated_at).where(jobs.c.status.in_(final))
    try:
        while True:
            with engine.connect() as conn:
                # SQLite keeps the worker's UTC times without their zone.
                rows = {i: at.replace(tzinfo=UTC).timestamp() for i, at in conn.execute(query)}
            if len(rows) >= expected:
                return rows
            note(f"priorities: {len(rows):,}/{expected:,} settled")
            time.sleep(1.0)
    finally:
        engine.dispose()


def _waits(
    orders: list[dict[str, Any]], sent: list[float], settled: dict[str, float]
) -> list[float]:
    return [settled[o["event_id"]] - at for o, at in zip(orders, sent, strict=True)]
