"""The workers' writes: claims and job transitions behind the effectively-once gate, and
the outbox.

Everything here runs on a connection inside the caller's transaction, so a batch's
job statuses, aggregate updates and outbox records commit together or not at all.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable, Sequence
from typing import NamedTuple

from sqlalchemy import Connection, delete, select

from conveyor.store.driver import driver_cursor, placeholder, time_value
from conveyor.store.jobs import (
    FINAL_STATUSES,
    JOB_COLUMNS,
    JOB_WIDTH,
    JobRecord,
    driver_row,
    id_chunks,
)
from conveyor.store.tables import (
    advisory_lock,
    insert_ignoring_duplicates,
    job_copies,
    jobs,
    outbox,
)

__all__ = [
    "Claim",
    "OutboxRow",
    "OutboxValues",
    "append_outbox",
    "claim",
    "outbox_after",
    "prune_outbox",
    "transition",
]

# SQLite binds at most 32,766 parameters a statement; a job row binds 15.
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


class Claim(NamedTuple):
    """What a batch's claim found, by event id."""

    fresh: set[str]  # claimed: their handlers may run
    copies: dict[str, str]  # owned by another stream's job (named here): recorded, not applied


def claim(conn: Connection, records: Sequence[JobRecord]) -> Claim:
    """Claim the jobs of ``records`` for their streams and record as copies the events
    whose id another stream's job owns; an id in neither part of the answer is final.

    Commit the claim before any handler runs: an e-mail sent for an id that another
    stream's transaction then wins could not be taken back. The claim is the gate's own
    statement; only ids it did not claim cost a second one, to tell copies from jobs that
    are done (a redelivery, a replay)."""
    fresh = transition(conn, records)
    unclaimed = [r for r in _first_of_each_id(records) if r.event_id not in fresh]
    if not unclaimed:
        return Claim(fresh, {})
    owners: dict[str, str] = {}
    for chunk in id_chunks([r.event_id for r in unclaimed]):
        rows = conn.execute(
            select(jobs.c.event_id, jobs.c.stream).where(jobs.c.event_id.in_(chunk))
        )
        owners.update((event_id, stream) for event_id, stream in rows)
    copied = [r for r in unclaimed if owners[r.event_id] != r.stream]
    if copied:
        conn.execute(
            insert_ignoring_duplicates(conn, job_copies),
            [
                {
                    "event_id": r.event_id,
                    "stream": r.stream,
                    "topic": r.topic,
                    "partition": r.partition,
                    "offset": r.offset,
                    "accepted_at": r.accepted_at,
                    "recorded_at": r.updated_at,
                }
                for r in copied
            ],
        )
    return Claim(fresh, {r.event_id: owners[r.event_id] for r in copied})


def transition(conn: Connection, records: Sequence[JobRecord]) -> set[str]:
    """Move each job to its record's status unless it is already final or another
    stream's; returns the ids that moved. A job that moves to a final status here is
    applied by this transaction and no other: the caller publishes and aggregates only
    for the ids returned. A row written here first is written whole; one that exists
    keeps where its event landed and when it was accepted.

    On PostgreSQL a transaction that meets a row another one is moving waits for it to
    end, then checks the status again: the gate holds under concurrency too."""
    ordered = _first_of_each_id(records)
    # A batch's rows share their update time and a request's events their accepted_at:
    # each distinct time is converted once.
    when = functools.lru_cache(maxsize=None)(time_value(conn.dialect))
    mark = placeholder(conn.dialect)
    moved: set[str] = set()
    with driver_cursor(conn) as cursor:
        for start in range(0, len(ordered), _ROWS_PER_STATEMENT):
            chunk = ordered[start : start + _ROWS_PER_STATEMENT]
            params = [value for r in chunk for value in driver_row(r, when)]
            cursor.execute(_transition_sql(len(chunk), mark), params)
            moved.update(row[0] for row in cursor.fetchall())
    return moved


def _first_of_each_id(records: Sequence[JobRecord]) -> list[JobRecord]:
    """The first record of each id, in id order: PostgreSQL refuses to upsert a row twice
    in one statement, and two transactions that lock some of the same jobs in the same
    order never deadlock."""
    first: dict[str, JobRecord] = {}
    for record in records:
        first.setdefault(record.event_id, record)
    return [first[event_id] for event_id in sorted(first)]


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
        with driver_cursor(conn) as cursor:
            cursor.executemany(
                f"INSERT INTO outbox (topic, key, value, headers) VALUES ({marks})",  # noqa: S608 - placeholders only
                batch,
            )


def outbox_after(conn: Connection, seq: int, limit: int) -> list[OutboxRow]:
    """The next ``limit`` records past ``seq``, in order; through the driver, as the relay
    reads them on every round."""
    mark = placeholder(conn.dialect)
    with driver_cursor(conn) as cursor:
        cursor.execute(
            "SELECT seq, topic, key, value, headers FROM outbox "  # noqa: S608 - placeholders only
            f"WHERE seq > {mark} ORDER BY seq LIMIT {mark}",
            (seq, limit),
        )
        return [OutboxRow._make(row) for row in cursor.fetchall()]


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
        "error = excluded.error, attempts = excluded.attempts, "
        # A claim's row carries its run's start and worker, and a new run's progress starts
        # afresh; a settle's carries neither, and keeps them for the job's view.
        "started_at = COALESCE(excluded.started_at, jobs.started_at), "
        "worker = COALESCE(excluded.worker, jobs.worker), "
        + ", ".join(
            f"{column} = CASE WHEN excluded.started_at IS NULL THEN jobs.{column} END"
            for column in ("progress", "progress_message", "partial_result")
        )
        + " "
        f"WHERE jobs.stream = excluded.stream AND jobs.status NOT IN ({final}) "
        "RETURNING event_id"
    )
