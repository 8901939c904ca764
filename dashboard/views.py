"""What the pages show, worked out from the store's answers and the lag samples."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Engine

from conveyor.config import Settings
from conveyor.monitoring.snapshot import LagSnapshot
from conveyor.store.schedules import last_tick
from conveyor.store.search import MinuteRates

__all__ = [
    "OverviewRow",
    "ScheduleRow",
    "lag_chart",
    "overview_rows",
    "rates_chart",
    "schedule_rows",
]

_OUTCOMES = ("accepted", "succeeded", "failed", "dead_lettered", "cancelled")


@dataclass(frozen=True)
class OverviewRow:
    stream: str
    last_minute: dict[str, int]  # accepted and each outcome (_OUTCOMES) in the last full minute
    backlog: int | None  # None: lag not sampled yet
    lag_by_topic: dict[str, int]
    queued: int
    processing: int


def overview_rows(
    settings: Settings,
    counts: dict[str, Counter[str]],
    rates: MinuteRates,
    latest: LagSnapshot | None,
) -> list[OverviewRow]:
    reading = latest.groups[0] if latest else None
    rows = []
    for name, stream in settings.streams.items():
        per_stream = rates.counts.get(name, {})
        last_minute = {what: per_stream.get(what, [0, 0])[0] for what in _OUTCOMES}
        lag = {t: reading.topic_lag(t) for t in stream.consumed_topics} if reading else {}
        backlog = sum(lag.get(t, 0) for t in stream.level_topics) if reading else None
        in_flight = counts.get(name, Counter())
        rows.append(
            OverviewRow(
                name, last_minute, backlog, lag, in_flight["queued"], in_flight["processing"]
            )
        )
    return rows


def rates_chart(rates: MinuteRates) -> dict[str, Any]:
    """Per stream, a line per outcome over the minutes (Unix seconds), as uPlot takes data."""
    return {
        "x": [int(minute.timestamp()) for minute in rates.minutes],
        "streams": {
            stream: {what: series.get(what, [0] * len(rates.minutes)) for what in _OUTCOMES}
            for stream, series in sorted(rates.counts.items())
        },
    }


def lag_chart(snapshots: list[LagSnapshot]) -> dict[str, Any]:
    """Per topic, the group's total lag and each partition's over the samples."""
    x = [int(s.taken_at.timestamp()) for s in snapshots]
    topics: dict[str, dict[str, list[int | None]]] = {}
    for n, snapshot in enumerate(snapshots):
        for reading in snapshot.groups:
            for topic in reading.topics:
                lines = topics.setdefault(topic, {})
                _point(lines, "total", n, len(x), reading.topic_lag(topic))
                for p in reading.partitions(topic):
                    _point(lines, f"p{p.partition}", n, len(x), p.lag)
    return {"x": x, "topics": topics}


def _point(lines: dict[str, list[int | None]], name: str, n: int, size: int, lag: int) -> None:
    # A partition first seen midway has no points before it: gaps, not zeros.
    lines.setdefault(name, [None] * size)[n] = lag


@dataclass(frozen=True)
class ScheduleRow:
    stream: str
    name: str
    clock: str  # the cron expression or the interval
    last_tick: datetime | None
    next_tick: datetime
    leader: str | None


def schedule_rows(
    settings: Settings, engine: Engine, latest: LagSnapshot | None, now: datetime
) -> list[ScheduleRow]:
    """Each declared schedule with the last tick the store has, the next one due, and the
    worker that leads the group (it fires them): the owner of Faust's leader partition."""
    group = settings.workers.group_id
    owners = latest.groups[0].membership.owners if latest else {}
    owner = owners.get((f"{group}-__assignor-__leader", 0))
    leader = f"{owner.client_id} on {owner.host}" if owner else None
    rows = []
    with engine.connect() as conn:
        for stream in settings.streams.values():
            for name, schedule in stream.schedules.items():
                last = last_tick(conn, f"{stream.name}/{name}")
                fired = None if last is None else datetime.fromtimestamp(last / 1000, now.tzinfo)
                clock = schedule.cron or f"every {schedule.every} ms"
                rows.append(
                    ScheduleRow(
                        stream.name,
                        name,
                        clock,
                        fired,
                        schedule.next_after(now),
                        leader,
                    )
                )
    return rows
