"""Job status: ``queued → processing → succeeded | failed | dead_lettered``, or
``cancelled`` from either of the first two."""

from __future__ import annotations

import asyncio
import contextvars
import functools
import json
import uuid
from collections import Counter
from collections.abc import Callable, Collection, Iterable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any, NamedTuple, TypeVar

from sqlalchemy import Engine, create_engine, event, func, inspect, select, text, update
from sqlalchemy.schema import CreateColumn

from conveyor.store.driver import placeholder, time_value
from conveyor.store.tables import advisory_lock, job_copies, jobs, metadata, store_identity

__all__ = [
    "FINAL_STATUSES",
    "JobCopy",
    "JobProgress",
    "JobRecord",
    "JobStatus",
    "JobStore",
    "jobs_in",
]

T = TypeVar("T")


class JobStatus(StrEnum):
    QUEUED = "queued"
    PROCESSING = "processing"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    DEAD_LETTERED = "dead_lettered"
    CANCELLED = "cancelled"


# Key of the advisory lock that serializes schema creation on PostgreSQL ("convsche").
_SCHEMA_LOCK = 0x636F6E76_73636865

# Once here, a job never moves again: a replayed or redelivered event finds it done.
FINAL_STATUSES = frozenset(
    {JobStatus.SUCCEEDED, JobStatus.FAILED, JobStatus.DEAD_LETTERED, JobStatus.CANCELLED}
)

# Final without effects (only a dead letter): what a DLQ redrive may reopen.
_REOPENABLE = (JobStatus.DEAD_LETTERED.value, JobStatus.FAILED.value)


class JobCopy(NamedTuple):
    """An event of another stream that came under a job's id: recorded, never applied."""

    stream: str
    topic: str
    partition: int
    offset: int
    accepted_at: datetime
    recorded_at: datetime


class JobProgress(NamedTuple):
    """What the handler last reported of a job: how far (0 to 1), a message, a partial result."""

    fraction: float
    message: str
    partial: dict[str, Any] | None


class JobRecord(NamedTuple):
    """One job's row. A tuple: the API makes one for every event it accepts."""

    event_id: str
    stream: str
    topic: str
    partition: int
    offset: int
    status: JobStatus
    accepted_at: datetime
    updated_at: datetime
    result: dict[str, Any] | None = None
    error: str | None = None
    attempts: int = 0
    # Set by a worker's claim: when its current run began, and which worker (host:pid).
    started_at: datetime | None = None
    worker: str | None = None
    key: str | None = None  # the event's partition key, as text
    trace_id: str | None = None  # of the traceparent its record carries
    progress: JobProgress | None = None  # read back by get(), written by the worker's reports
    copies: tuple[JobCopy, ...] = ()  # read back by get(), never written with the row


class JobStore:
    """Synchronous access to the ``jobs`` table; callers on an event loop use a thread,
    and for the writes on their hot path :meth:`write`."""

    def __init__(self, url: str) -> None:
        self._engine: Engine = create_engine(url)
        # SQLite lets one connection write at a time, and a connection that finds the lock
        # taken sleeps in SQLite's busy handler, 1, 2, 5, 10, 15 ms... between tries, not
        # until the lock is free: a worker's claim and settle, in two threads, kept waking
        # late for each other (a 10-job claim took 6 ms p50, a settle 8; in one thread,
        # 1.3 and 2.9). So a process's writes on its hot paths (a worker's claims, settles,
        # tier moves and progress, the API's queued rows) queue for one thread. PostgreSQL
        # writes side by side: the default executor.
        self._writer: ThreadPoolExecutor | None = None
        if self._engine.dialect.name == "sqlite":
            event.listen(self._engine, "connect", _sqlite_pragmas)
            self._writer = ThreadPoolExecutor(1, thread_name_prefix="store-writer")
        mark = placeholder(self._engine.dialect)
        self._insert_queued = (
            f"INSERT INTO jobs ({JOB_COLUMNS}) VALUES ({', '.join([mark] * JOB_WIDTH)}) "  # noqa: S608 - only placeholders and our column list
            "ON CONFLICT (event_id) DO NOTHING"
        )
        self._when = time_value(self._engine.dialect)

    @property
    def engine(self) -> Engine:
        return self._engine

    def create_schema(self) -> None:
        # The API and workers start together; on PostgreSQL two CREATE TABLEs of the same
        # table race and one fails, so the check-then-create runs one process at a time.
        with self._engine.begin() as conn:
            advisory_lock(conn, _SCHEMA_LOCK)
            metadata.create_all(conn)
            # create_all makes missing tables only: a store made by an earlier version gets
            # the jobs columns added since (attempts; a run's start, worker and progress).
            present = {c["name"] for c in inspect(conn).get_columns("jobs")}
            for column in jobs.columns:
                if column.name not in present:
                    spec = CreateColumn(column).compile(dialect=conn.dialect)
                    conn.execute(text(f"ALTER TABLE jobs ADD COLUMN {spec}"))
            if conn.execute(select(store_identity.c.id)).first() is None:
                conn.execute(store_identity.insert().values(id=str(uuid.uuid4())))

    def identity(self) -> str:
        """This store's id, made with its tables: another store, another id."""
        with self._engine.connect() as conn:
            return str(conn.execute(select(store_identity.c.id)).scalar_one())

    async def write(self, call: Callable[[], T]) -> T:
        """``call()``, a write of this store, off the event loop: on SQLite in the store's
        one writer thread, after the writes queued before it (see ``__init__``)."""
        context = contextvars.copy_context()
        return await asyncio.get_running_loop().run_in_executor(self._writer, context.run, call)

    def dispose(self) -> None:
        if self._writer is not None:
            self._writer.shutdown(wait=False)
        self._engine.dispose()

    def record_queued(self, records: Sequence[JobRecord]) -> None:
        """Insert ``queued`` rows; an event already known (a retried POST) keeps its row.

        Straight through the driver's executemany: this runs for every accepted event,
        and SQLAlchemy's per-row processing cost more than SQLite's own insert.
        """
        if not records:
            return
        # The events of one request share their timestamps: convert each one once.
        when = functools.lru_cache(maxsize=None)(self._when)
        # In id order, as the workers' transitions lock jobs: on PostgreSQL the two then
        # never wait on each other crosswise (a deadlock).
        rows = [driver_row(r, when) for r in sorted(records, key=lambda r: r.event_id)]
        with self._engine.begin() as conn:
            conn.exec_driver_sql(self._insert_queued, rows)

    def reopen(self, event_ids: Sequence[str]) -> set[str]:
        """Move the jobs of ``event_ids`` that ended ``dead_lettered`` or ``failed`` back to
        ``queued`` (attempts, result and error cleared), so that the workers' gate lets
        their redriven records through; returns the ids moved. Jobs that succeeded never
        move: their effects were applied, and must not be applied twice."""
        now = datetime.now(UTC)
        reopened: set[str] = set()
        with self._engine.begin() as conn:
            for chunk in id_chunks(sorted(event_ids)):
                rows = conn.execute(
                    update(jobs)
                    .where(jobs.c.event_id.in_(chunk), jobs.c.status.in_(_REOPENABLE))
                    .values(
                        status=JobStatus.QUEUED.value,
                        updated_at=now,
                        result=None,
                        error=None,
                        attempts=0,
                    )
                    .returning(jobs.c.event_id)
                )
                reopened.update(row[0] for row in rows)
        return reopened

    def statuses(self, event_ids: Sequence[str]) -> Counter[str]:
        """How many of ``event_ids`` are in each status (unknown ids are not counted)."""
        counts: Counter[str] = Counter()
        with self._engine.connect() as conn:
            for chunk in id_chunks(event_ids):
                rows = conn.execute(
                    select(jobs.c.status, func.count())
                    .where(jobs.c.event_id.in_(chunk))
                    .group_by(jobs.c.status)
                )
                counts.update({status: count for status, count in rows})
        return counts

    def get(self, event_id: str) -> JobRecord | None:
        """The job of ``event_id``, with the copies of other streams that came under it."""
        return self.get_many([event_id]).get(event_id)

    def get_many(
        self, event_ids: Collection[str], statuses: Collection[JobStatus] | None = None
    ) -> dict[str, JobRecord]:
        """The jobs of ``event_ids`` (those in ``statuses``, if given) with their copies, by
        id: two queries (a chunk of ids at a time) for many."""
        wanted = None if statuses is None else [status.value for status in statuses]
        found: dict[str, JobRecord] = {}
        with self._engine.connect() as conn:
            for chunk in id_chunks(sorted(event_ids)):
                query = select(jobs).where(jobs.c.event_id.in_(chunk))
                if wanted is not None:
                    query = query.where(jobs.c.status.in_(wanted))
                rows = conn.execute(query).mappings().all()
                if not rows:
                    continue
                copies: dict[str, list[JobCopy]] = {}
                for event_id, *copy in conn.execute(
                    select(
                        job_copies.c.event_id,
                        job_copies.c.stream,
                        job_copies.c.topic,
                        job_copies.c.partition,
                        job_copies.c.offset,
                        job_copies.c.accepted_at,
                        job_copies.c.recorded_at,
                    )
                    .where(job_copies.c.event_id.in_([row["event_id"] for row in rows]))
                    .order_by(job_copies.c.recorded_at, job_copies.c.stream)
                ):
                    stream, topic, partition, offset, accepted, recorded = copy
                    copies.setdefault(event_id, []).append(
                        JobCopy(stream, topic, partition, offset, _utc(accepted), _utc(recorded))
                    )
                for row in rows:
                    found[row["event_id"]] = _record(row, copies.get(row["event_id"], ()))
        return found


def _record(row: Any, copies: Iterable[JobCopy]) -> JobRecord:
    return JobRecord(
        event_id=row["event_id"],
        stream=row["stream"],
        topic=row["topic"],
        partition=row["partition"],
        offset=row["offset"],
        status=JobStatus(row["status"]),
        accepted_at=_utc(row["accepted_at"]),
        updated_at=_utc(row["updated_at"]),
        result=json.loads(row["result"]) if row["result"] else None,
        error=row["error"],
        attempts=row["attempts"],
        started_at=_utc(row["started_at"]) if row["started_at"] else None,
        worker=row["worker"],
        key=row["key"],
        trace_id=row["trace_id"],
        progress=None
        if row["progress"] is None
        else JobProgress(
            row["progress"],
            row["progress_message"] or "",
            json.loads(row["partial_result"]) if row["partial_result"] else None,
        ),
        copies=tuple(copies),
    )


# The jobs table's columns in the order driver_row() gives their values.
JOB_COLUMNS = (
    'event_id, stream, topic, "partition", "offset", status, '
    'accepted_at, updated_at, result, error, attempts, started_at, worker, "key", trace_id'
)
JOB_WIDTH = 15


def driver_row(record: JobRecord, when: Callable[[datetime], object]) -> tuple[object, ...]:
    """``record`` as the DB-API driver takes it (see ``store/driver.py``), in
    :data:`JOB_COLUMNS` order; ``when`` converts timestamps for the driver."""
    return (
        record.event_id,
        record.stream,
        record.topic,
        record.partition,
        record.offset,
        record.status.value,
        when(record.accepted_at),
        when(record.updated_at),
        result_json(record.result),
        record.error,
        record.attempts,
        when(record.started_at) if record.started_at else None,
        record.worker,
        record.key,
        record.trace_id,
    )


def result_json(result: dict[str, Any] | None) -> str | None:
    """A result (or a partial one) as the store keeps it."""
    return json.dumps(result, default=_json_default) if result else None


def jobs_in(
    engine: Engine, event_ids: Collection[str], statuses: Collection[JobStatus]
) -> set[str]:
    """Which of ``event_ids`` are in one of ``statuses``: one query (a chunk of ids at a
    time) for many jobs a process watches."""
    found: set[str] = set()
    wanted = [status.value for status in statuses]
    with engine.connect() as conn:
        for chunk in id_chunks(sorted(event_ids)):
            rows = conn.execute(
                select(jobs.c.event_id).where(jobs.c.event_id.in_(chunk), jobs.c.status.in_(wanted))
            )
            found.update(row[0] for row in rows)
    return found


def id_chunks(event_ids: Sequence[str], size: int = 10_000) -> Iterator[Sequence[str]]:
    """Ids in slices a statement can bind (SQLite takes at most 32,766 parameters)."""
    for start in range(0, len(event_ids), size):
        yield event_ids[start : start + size]


def _json_default(value: object) -> str:
    if isinstance(value, datetime):
        return value.isoformat()
    raise TypeError(f"{type(value).__name__} is not JSON serialisable")


def _utc(value: datetime) -> datetime:
    # SQLite hands back naive datetimes (everything stored is UTC); PostgreSQL hands back
    # the session's time zone. Either way the API answers in UTC.
    return value.astimezone(UTC) if value.tzinfo else value.replace(tzinfo=UTC)


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    # WAL lets the API read while workers write; busy_timeout waits out a writer's lock.
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA busy_timeout=5000")
    cursor.close()
