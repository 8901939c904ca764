"""The workers' writes: job transitions behind the effectively-once gate, and the outbox.

Everything here runs on a connection inside the caller's transaction, so a batch's
job statuses, aggregate updates and outbox records commit together or not at all.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any, NamedTuple

from sqlalchemy import Connection, delete, select

from conveyor.store.jobs import FINAL_STATUSES, JobRecord
from conveyor.store.tables import advisory_lock, jobs, outbox, upsert

__all__ = ["OutboxRow", "append_outbox", "outbox_after", "prune_outbox", "transition"]

# SQLite allows 32,766 bound parameters a statement; a job row binds 11.
_ROWS_PER_STATEMENT = 2_000

# Key of the advisory lock that serializes outbox appends on PostgreSQL; any constant
# no other lock uses (this one spells "convoutb").
_OUTBOX_LOCK = 0x636F6E76_6F757462


class OutboxRow(NamedTuple):
    seq: int
    topic: str
    key: bytes | None
    value: bytes | None
    headers: bytes


def transition(conn: Connection, records: Sequence[JobRecord]) -> set[str]:
    """Move each job to its record's status unless it is already final; returns the ids
    that moved. A job that moves to a final status here is applied by this transaction
    and no other: the caller publishes and aggregates only for the ids returned.

    On PostgreSQL a transaction that meets a row another one is moving waits for it to
    end, then checks the status again: the gate holds under concurrency too."""
    # The first record of an id counts (PostgreSQL refuses to upsert a row twice in one
    # statement), and rows go in id order, so that two transactions moving some of the
    # same jobs lock them in the same order rather than deadlock.
    first: dict[str, JobRecord] = {}
    for record in records:
        first.setdefault(record.event_id, record)
    rows = [_row(first[event_id]) for event_id in sorted(first)]
    moved: set[str] = set()
    final = [s.value for s in FINAL_STATUSES]
    for start in range(0, len(rows), _ROWS_PER_STATEMENT):
        insert = upsert(conn, jobs).values(rows[start : start + _ROWS_PER_STATEMENT])
        statement = insert.on_conflict_do_update(
            index_elements=[jobs.c.event_id],
            set_={
                "status": insert.excluded.status,
                "updated_at": insert.excluded.updated_at,
                "result": insert.excluded.result,
                "error": insert.excluded.error,
                "attempts": insert.excluded.attempts,
            },
            where=jobs.c.status.not_in(final),
        ).returning(jobs.c.event_id)
        moved.update(conn.execute(statement).scalars())
    return moved


def append_outbox(conn: Connection, rows: Iterable[dict[str, Any]]) -> None:
    """Queue records (``topic``, ``key``, ``value``, ``headers``) for the relay; call it
    last in the transaction, which holds the outbox until it ends."""
    batch = list(rows)
    if batch:
        # The relay reads past the last seq it published, so seqs must become visible in
        # order. SQLite has one writer at a time; PostgreSQL draws seqs at insert, and a
        # transaction that drew 11 could commit before the one holding 10, which the relay
        # would then skip for ever. The lock makes drawing and committing one step.
        advisory_lock(conn, _OUTBOX_LOCK)
        conn.execute(outbox.insert(), batch)


def outbox_after(conn: Connection, seq: int, limit: int) -> list[OutboxRow]:
    rows = conn.execute(
        select(outbox.c.seq, outbox.c.topic, outbox.c.key, outbox.c.value, outbox.c.headers)
        .where(outbox.c.seq > seq)
        .order_by(outbox.c.seq)
        .limit(limit)
    )
    return [OutboxRow(*row) for row in rows]


def prune_outbox(conn: Connection, upto: int) -> None:
    """Forget records the relay has published."""
    conn.execute(delete(outbox).where(outbox.c.seq <= upto))


def _row(record: JobRecord) -> dict[str, Any]:
    return {
        "event_id": record.event_id,
        "stream": record.stream,
        "topic": record.topic,
        "partition": record.partition,
        "offset": record.offset,
        "status": record.status.value,
        "accepted_at": record.accepted_at,
        "updated_at": record.updated_at,
        "result": json.dumps(record.result, default=_json_default) if record.result else None,
        "error": record.error,
        "attempts": record.attempts,
    }


def _json_default(value: object) -> str:
    if isinstance(value, datetime):
        return value.isoformat()
    raise TypeError(f"{type(value).__name__} is not JSON serialisable")
