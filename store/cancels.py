"""Cancelling a job, and the commit points it must not race.

A cancel is one more move behind the effectively-once gate: the job goes to ``cancelled``
(final) only from ``queued`` or ``processing``, so a worker's claim skips it (a queued job
never runs, a redelivery stays cancelled) and a worker's settle cannot move it (nothing is
applied). An effect outside the store that has passed its point of no return (an e-mail
whose commit point is recorded in ``deliveries``) cannot be taken back, so a job that has
one is not cancelled; the commit point in turn is refused to a job no longer processing.

Both sides take the job's row first, with a write: on PostgreSQL the row lock orders the
two transactions and the second, in READ COMMITTED, reads what the first committed; on
SQLite a write takes the database's one write lock for the whole transaction.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from datetime import datetime
from enum import StrEnum
from typing import NamedTuple

from sqlalchemy import Connection, Engine, exists, select, update

from conveyor.store.exceptions import JobNotRunningError
from conveyor.store.jobs import JobRecord, JobStatus
from conveyor.store.results import OutboxValues, append_outbox
from conveyor.store.tables import deliveries, insert_ignoring_duplicates, jobs

__all__ = ["CancelOutcome", "Cancelling", "cancel_job", "commit_delivery"]

_CANCELLABLE = (JobStatus.QUEUED.value, JobStatus.PROCESSING.value)


class CancelOutcome(StrEnum):
    CANCELLED = "cancelled"
    UNKNOWN = "unknown"  # no such job
    FINAL = "final"  # it ended already (cancelled included)
    PAST_RETURN = "past_return"  # an effect passed its point of no return


class Cancelling(NamedTuple):
    outcome: CancelOutcome
    status: JobStatus | None  # the job's status after the attempt; None if unknown


def cancel_job(
    engine: Engine,
    event_id: str,
    now: datetime,
    announce: Callable[[JobRecord], Iterable[OutboxValues]] = lambda _job: (),
) -> Cancelling:
    """Move the job of ``event_id`` to ``cancelled`` if it is queued or processing and
    none of its effects passed a point of no return; what ``announce`` makes of the
    cancelled job goes to the outbox in the same transaction."""
    with engine.connect() as conn:
        moved = conn.execute(
            update(jobs)
            .where(jobs.c.event_id == event_id, jobs.c.status.in_(_CANCELLABLE))
            .values(status=JobStatus.CANCELLED.value, updated_at=now)
            .returning(
                jobs.c.stream,
                jobs.c.topic,
                jobs.c.partition,
                jobs.c.offset,
                jobs.c.accepted_at,
                jobs.c.attempts,
                jobs.c.key,
            )
        ).first()
        if moved is None:
            status = conn.execute(
                select(jobs.c.status).where(jobs.c.event_id == event_id)
            ).scalar_one_or_none()
            conn.rollback()
            if status is None:
                return Cancelling(CancelOutcome.UNKNOWN, None)
            return Cancelling(CancelOutcome.FINAL, JobStatus(status))
        # A statement of its own, after the row lock: in READ COMMITTED it sees a delivery
        # committed by the transaction it waited for.
        if conn.execute(select(exists().where(deliveries.c.event_id == event_id))).scalar():
            conn.rollback()
            return Cancelling(CancelOutcome.PAST_RETURN, JobStatus.PROCESSING)
        stream, topic, partition, offset, accepted_at, attempts, key = moved
        cancelled = JobRecord(
            event_id,
            stream,
            topic,
            partition,
            offset,
            JobStatus.CANCELLED,
            accepted_at,
            now,
            attempts=attempts,
            key=key,
        )
        append_outbox(conn, announce(cancelled))
        conn.commit()
    return Cancelling(CancelOutcome.CANCELLED, JobStatus.CANCELLED)


def commit_delivery(conn: Connection, event_id: str, message_id: str, now: datetime) -> bool:
    """Record an e-mail's point of no return, in the caller's transaction; False if an
    earlier attempt recorded it. Raises :class:`JobNotRunningError` if the job is no longer
    processing (cancelled): its e-mail must not be sent."""
    # A write that changes nothing, for its lock (see the module's docstring).
    running = conn.execute(
        update(jobs)
        .where(jobs.c.event_id == event_id, jobs.c.status == JobStatus.PROCESSING.value)
        .values(updated_at=jobs.c.updated_at)
        .returning(jobs.c.event_id)
    ).first()
    if running is None:
        raise JobNotRunningError(event_id)
    # RETURNING, not the row count: SQLAlchemy closes the cursor of a statement that
    # returns no rows, and psycopg's count is gone with it (-1), where sqlite3's stays.
    inserted = conn.execute(
        insert_ignoring_duplicates(conn, deliveries)
        .values(event_id=event_id, message_id=message_id, committed_at=now)
        .returning(deliveries.c.event_id)
    ).first()
    return inserted is not None
