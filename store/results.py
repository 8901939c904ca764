"""The workers' writes: job transitions behind the effectively-once gate, and the outbox.

Everything here runs on a connection inside the caller's transaction, so a batch's
job statuses, aggregate updates and outbox records commit together or not at all.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable, Sequence
from typing import NamedTuple

from sqlalchemy import Connection, delete, select

from conveyor.store.driver import placeholder, time_value
from conveyor.store.jobs import FINAL_STATUSES, JOB_COLUMNS, JOB_WIDTH, JobRecord, driver_row
from conveyor.store.tables import advisory_lock, outbox

__all__ = [
    "OutboxRow",
    "OutboxValues",
    "append_outbox",
    "outbox_after",
    "prune_outbox",
    "transition",
]

# SQLite binds at most 32,766 parameters a statement; a job row binds 11.
_ROWS_PER_STATEMENT = 2_000

# Key of the advisory lock that serializes outbox appends on PostgreSQL; any constant
# no other lock uses (this one spells "convoutb").
_OUTBOX_LOCK = 0x636F6E76_6F757462


# An outbox record as the driver takes it: topic, key, value, headers blob.
OutboxValues = tuple[str, bytes | None, bytes | None, bytes]


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
    ordered = [first[event_id] for event_id in sorted(first)]
    when = time_value(conn.dialect)
    mark = placeholder(conn.dialect)
    moved: set[str] = set()
    for start in range(0, len(ordered), _ROWS_PER_STATEMENT):
        chunk = ordered[start : start + _ROWS_PER_STATEMENT]
        params = [value for r in chunk for value in driver_row(r, when)]
        result = conn.exec_driver_sql(_transition_sql(len(chunk), mark), tuple(params))
        moved.update(row[0] for row in result)
    return moved


def append_outbox(conn: Connection, rows: Iterable[OutboxValues]) -> None:
    """Queue records (``topic``, ``key``, ``value``, ``headers``) for the relay; call it
    last in the transaction, which holds the outbox until it ends."""
    batch = list(rows)
    if batch:
        # The relay reads past the last seq it published, so seqs must become visible in
        # order. SQLite has one writer at a time; PostgreSQL draws seqs at insert, and a
        # transaction that drew 11 could commit before the one holding 10, which the relay
        # would then skip for ever. The lock makes drawing and committing one step.
        advisory_lock(conn, _OUTBOX_LOCK)
        marks = ", ".join([placeholder(conn.dialect)] * 4)
        conn.exec_driver_sql(
            f"INSERT INTO outbox (topic, key, value, headers) VALUES ({marks})",  # noqa: S608 - placeholders only
            batch,
        )


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


@functools.lru_cache(maxsize=64)
def _transition_sql(rows: int, mark: str) -> str:
    """One multi-row upsert, written out: a job row per event, and SQLAlchemy's
    per-parameter processing cost more than SQLite's own work."""
    row = f"({', '.join([mark] * JOB_WIDTH)})"
    final = ", ".join(f"'{status.value}'" for status in sorted(FINAL_STATUSES))
    return (
        f"INSERT INTO jobs ({JOB_COLUMNS}) VALUES {', '.join([row] * rows)} "  # noqa: S608 - only placeholders and our own constants
        "ON CONFLICT (event_id) DO UPDATE SET status = excluded.status, "
        "updated_at = excluded.updated_at, result = excluded.result, "
        "error = excluded.error, attempts = excluded.attempts "
        f"WHERE jobs.status NOT IN ({final}) RETURNING event_id"
    )
