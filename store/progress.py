"""The handlers' progress reports, written for many jobs in one statement."""

from __future__ import annotations

import functools
from collections.abc import Sequence
from typing import Any, NamedTuple

from sqlalchemy import Connection

from conveyor.store.driver import placeholder
from conveyor.store.jobs import JobStatus, result_json

__all__ = ["ProgressRow", "ProgressTaken", "write_progress"]


class ProgressRow(NamedTuple):
    event_id: str
    fraction: float
    message: str
    partial: dict[str, Any] | None


class ProgressTaken(NamedTuple):
    """A job that took its report, and what its change on the feed needs of its row."""

    event_id: str
    stream: str
    partition: int
    key: str | None
    attempts: int


def write_progress(
    conn: Connection, worker: str, reports: Sequence[ProgressRow]
) -> list[ProgressTaken]:
    """Record each job's latest report, one ``UPDATE`` for all of them (up to 5,000); returns
    the jobs that took theirs.

    Only a job still ``processing`` in ``worker``'s run takes a report: one that ended (its
    final status is written by the settle, which a late flush must never undo) or that
    another worker runs now (a rebalance handed it on) keeps what it has."""
    mark = placeholder(conn.dialect)
    written: list[ProgressTaken] = []
    for start in range(0, len(reports), _ROWS_PER_STATEMENT):
        chunk = reports[start : start + _ROWS_PER_STATEMENT]
        params = [
            value
            for r in chunk
            for value in (r.event_id, float(r.fraction), r.message, result_json(r.partial))
        ]
        result = conn.exec_driver_sql(
            _progress_sql(len(chunk), mark), (*params, JobStatus.PROCESSING.value, worker)
        )
        written += [ProgressTaken(*row) for row in result]
    return written


# SQLite binds at most 32,766 parameters a statement; a report binds 4.
_ROWS_PER_STATEMENT = 5_000


@functools.lru_cache(maxsize=64)
def _progress_sql(rows: int, mark: str) -> str:
    """``UPDATE`` from a ``VALUES`` list named by a ``WITH``, which SQLite (3.33+) and
    PostgreSQL both take; the first row's casts name the types PostgreSQL cannot infer."""
    first = (
        f"(CAST({mark} AS TEXT), CAST({mark} AS DOUBLE PRECISION), "
        f"CAST({mark} AS TEXT), CAST({mark} AS TEXT))"
    )
    values = ", ".join([first, *[f"({mark}, {mark}, {mark}, {mark})"] * (rows - 1)])
    return (
        f"WITH p (event_id, fraction, message, partial) AS (VALUES {values}) "  # noqa: S608 - only placeholders
        "UPDATE jobs SET progress = p.fraction, progress_message = p.message, "
        "partial_result = p.partial FROM p "
        f"WHERE jobs.event_id = p.event_id AND jobs.status = {mark} AND jobs.worker = {mark} "
        'RETURNING jobs.event_id, jobs.stream, jobs."partition", jobs."key", jobs.attempts'
    )
