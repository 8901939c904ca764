"""Read-only questions the dashboard asks of the ``jobs`` table, a page at a time.

Every query here is bounded: a page of jobs by a keyset cursor (never an ``OFFSET`` that
reads the rows it skips), counts of the jobs still in flight, and rates over a window of
minutes. Each is served by one of the indexes :func:`create_search_indexes` makes, so
none reads the whole table however long the store's history grows.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, Engine, and_, func, or_, select, text

from conveyor.store.jobs import JobStatus
from conveyor.store.tables import jobs

__all__ = [
    "SEARCH_INDEXES",
    "JobPage",
    "JobQuery",
    "JobSummary",
    "MinuteRates",
    "create_search_indexes",
    "in_flight",
    "minute_rates",
    "search_jobs",
]

# Made by the dashboard when it starts, not with the tables: an index is paid for on every
# insert and every status change, so a store whose API serves no dashboard does not pay.
# ``accepted_at`` rises with every insert (appended at the index's end); by status and
# updated_at serves the jobs in flight, the outcomes of the last minutes and a search by
# status; by key and accepted_at, one key's jobs newest first.
SEARCH_INDEXES = {
    "ix_jobs_accepted_at": "jobs (accepted_at)",
    "ix_jobs_status_updated_at": "jobs (status, updated_at)",
    "ix_jobs_key_accepted_at": 'jobs ("key", accepted_at)',
}

_IN_FLIGHT = (JobStatus.QUEUED.value, JobStatus.PROCESSING.value)


def create_search_indexes(engine: Engine) -> None:
    """Make the indexes the dashboard's queries need, where they are missing."""
    with engine.begin() as conn:
        for name, on in SEARCH_INDEXES.items():
            conn.execute(text(f"CREATE INDEX IF NOT EXISTS {name} ON {on}"))


@dataclass(frozen=True)
class JobQuery:
    """Which jobs: all the conditions given. A search by status lists the jobs that moved
    most recently first (``updated_at``); any other, those accepted most recently first."""

    event_id: str | None = None
    key: str | None = None  # the event's partition key
    stream: str | None = None
    status: JobStatus | None = None
    topic: str | None = None
    partition: int | None = None
    since: datetime | None = None  # accepted at or after
    until: datetime | None = None  # accepted before
    after: tuple[datetime, str] | None = None  # the cursor: the last row of the page before

    @property
    def by_status(self) -> bool:
        return self.status is not None


@dataclass(frozen=True)
class JobSummary:
    event_id: str
    stream: str
    status: JobStatus
    topic: str
    partition: int
    offset: int
    accepted_at: datetime
    updated_at: datetime
    attempts: int


@dataclass(frozen=True)
class JobPage:
    jobs: list[JobSummary]
    next: tuple[datetime, str] | None = None  # the cursor of the next page, if there is one


def search_jobs(engine: Engine, query: JobQuery, limit: int = 50) -> JobPage:
    """A page of the jobs ``query`` selects, newest first, and the cursor of the next."""
    order = jobs.c.updated_at if query.by_status else jobs.c.accepted_at
    statement = (
        select(
            jobs.c.event_id,
            jobs.c.stream,
            jobs.c.status,
            jobs.c.topic,
            jobs.c.partition,
            jobs.c.offset,
            jobs.c.accepted_at,
            jobs.c.updated_at,
            jobs.c.attempts,
        )
        .where(*_conditions(query, order))
        .order_by(order.desc(), jobs.c.event_id.desc())
        .limit(limit + 1)  # one more than shown: whether a next page exists
    )
    with engine.connect() as conn:
        rows = conn.execute(statement).all()
    found = [
        JobSummary(
            row.event_id,
            row.stream,
            JobStatus(row.status),
            row.topic,
            row.partition,
            row.offset,
            _utc(row.accepted_at),
            _utc(row.updated_at),
            row.attempts,
        )
        for row in rows[:limit]
    ]
    last = found[-1] if len(rows) > limit else None
    cursor = None
    if last is not None:
        cursor = (last.updated_at if query.by_status else last.accepted_at, last.event_id)
    return JobPage(found, cursor)


def _conditions(query: JobQuery, order: Any) -> list[ColumnElement[bool]]:
    conditions: list[ColumnElement[bool]] = []
    if query.event_id is not None:
        conditions.append(jobs.c.event_id == query.event_id)
    if query.key is not None:
        conditions.append(jobs.c.key == query.key)
    if query.stream is not None:
        conditions.append(jobs.c.stream == query.stream)
    if query.status is not None:
        conditions.append(jobs.c.status == query.status.value)
    if query.topic is not None:
        conditions.append(jobs.c.topic == query.topic)
    if query.partition is not None:
        conditions.append(jobs.c.partition == query.partition)
    if query.since is not None:
        conditions.append(jobs.c.accepted_at >= query.since)
    if query.until is not None:
        conditions.append(jobs.c.accepted_at < query.until)
    if query.after is not None:
        at, event_id = query.after
        conditions.append(or_(order < at, and_(order == at, jobs.c.event_id < event_id)))
    return conditions


def in_flight(engine: Engine) -> dict[str, Counter[str]]:
    """Per stream, how many jobs are ``queued`` and ``processing``."""
    statement = (
        select(jobs.c.stream, jobs.c.status, func.count())
        .where(jobs.c.status.in_(_IN_FLIGHT))
        .group_by(jobs.c.stream, jobs.c.status)
    )
    counts: dict[str, Counter[str]] = {}
    with engine.connect() as conn:
        for stream, status, count in conn.execute(statement):
            counts.setdefault(stream, Counter())[status] = count
    return counts


@dataclass
class MinuteRates:
    """Per stream and minute (its start, UTC), jobs accepted and jobs that ended, by outcome."""

    minutes: list[datetime]
    counts: dict[str, dict[str, list[int]]] = field(default_factory=dict)  # stream → what → n

    def add(self, stream: str, what: str, minute: datetime, count: int) -> None:
        series = self.counts.setdefault(stream, {}).setdefault(what, [0] * len(self.minutes))
        n = int((minute - self.minutes[0]).total_seconds() // 60)
        if 0 <= n < len(series):
            series[n] += count


def minute_rates(engine: Engine, minutes: int = 15, now: datetime | None = None) -> MinuteRates:
    """Jobs accepted, and jobs that ended by outcome, in each of the last ``minutes``
    (the current, partial one last). Ended jobs are counted by their last change: a job
    redriven and succeeded counts where it succeeded."""
    now = (now or datetime.now(UTC)).replace(second=0, microsecond=0)
    first = now - timedelta(minutes=minutes - 1)
    rates = MinuteRates([first + timedelta(minutes=n) for n in range(minutes)])
    ended = [s.value for s in JobStatus if s.value not in _IN_FLIGHT]
    with engine.connect() as conn:
        minute = _minute(engine, jobs.c.accepted_at)
        accepted = (
            select(jobs.c.stream, minute, func.count())
            .where(jobs.c.accepted_at >= first)
            .group_by(jobs.c.stream, minute)
        )
        for stream, at, count in conn.execute(accepted):
            rates.add(stream, "accepted", _minute_value(at), count)
        minute = _minute(engine, jobs.c.updated_at)
        outcomes = (
            select(jobs.c.stream, jobs.c.status, minute, func.count())
            .where(jobs.c.status.in_(ended), jobs.c.updated_at >= first)
            .group_by(jobs.c.stream, jobs.c.status, minute)
        )
        for stream, status, at, count in conn.execute(outcomes):
            rates.add(stream, status, _minute_value(at), count)
    return rates


def _minute(engine: Engine, column: Any) -> ColumnElement[Any]:
    # SQLite keeps times as ISO text, whose first 16 characters are the minute.
    if engine.dialect.name == "sqlite":
        return func.substr(column, 1, 16)
    return func.date_trunc("minute", column)


def _minute_value(at: datetime | str) -> datetime:
    if isinstance(at, str):
        return datetime.fromisoformat(at).replace(tzinfo=UTC)
    return _utc(at)


def _utc(at: datetime) -> datetime:
    # SQLite gives naive datetimes back; everything the store writes is UTC.
    return at.replace(tzinfo=UTC) if at.tzinfo is None else at.astimezone(UTC)
