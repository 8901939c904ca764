"""Cancel and progress in the result store, on SQLite and on a real PostgreSQL: a cancelled
job is final for the workers' gate; a cancel and an e-mail's commit point exclude each
other, also when they race; progress reports are coalesced and never touch a job that
ended or another worker's run."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from typing import Any

import pytest
from sqlalchemy import event, func, select
from sqlalchemy.exc import OperationalError

from conveyor.processors.handler import Progress
from conveyor.processors.progress import ProgressWriter, worker_name
from conveyor.store import JobProgress, JobRecord, JobStatus, JobStore
from conveyor.store.cancels import CancelOutcome, cancel_job, commit_delivery
from conveyor.store.exceptions import JobNotRunningError
from conveyor.store.results import claim, transition
from conveyor.store.tables import deliveries

NOW = datetime(2026, 11, 1, 12, 0, tzinfo=UTC)


def _queued(event_id: str, stream: str = "orders") -> JobRecord:
    return JobRecord(event_id, stream, "orders-t", 0, 7, JobStatus.QUEUED, NOW, NOW)


def _claimed(store: JobStore, event_id: str, worker: str | None = None) -> JobRecord:
    record = _queued(event_id)._replace(
        status=JobStatus.PROCESSING, started_at=NOW, worker=worker or worker_name()
    )
    with store.engine.begin() as conn:
        assert claim(conn, [record]).fresh == {event_id}
    return record


def _commit(store: JobStore, event_id: str) -> bool:
    with store.engine.begin() as conn:
        return commit_delivery(conn, event_id, f"<{event_id}@conveyor>", NOW)


def _delivered(store: JobStore, event_id: str) -> bool:
    with store.engine.connect() as conn:
        query = select(func.count()).where(deliveries.c.event_id == event_id)
        return bool(conn.execute(query).scalar_one())


def test_a_cancelled_job_is_never_claimed_nor_moved_by_a_settle(store: JobStore) -> None:
    store.record_queued([_queued("q-1")])
    assert cancel_job(store.engine, "q-1", NOW).outcome is CancelOutcome.CANCELLED
    processing = _queued("q-1")._replace(status=JobStatus.PROCESSING, started_at=NOW, worker="w")
    with store.engine.begin() as conn:
        claimed = claim(conn, [processing])
    assert claimed.fresh == set()
    assert claimed.copies == {}
    with store.engine.begin() as conn:
        assert transition(conn, [_queued("q-1")._replace(status=JobStatus.SUCCEEDED)]) == set()
    record = store.get("q-1")
    assert record is not None
    assert record.status is JobStatus.CANCELLED
    assert record.worker is None


def test_a_job_that_ended_or_was_never_accepted_is_not_cancelled(store: JobStore) -> None:
    store.record_queued([_queued("done")])
    with store.engine.begin() as conn:
        transition(conn, [_queued("done")._replace(status=JobStatus.SUCCEEDED)])
    assert cancel_job(store.engine, "done", NOW) == (CancelOutcome.FINAL, JobStatus.SUCCEEDED)
    assert cancel_job(store.engine, "nobody", NOW) == (CancelOutcome.UNKNOWN, None)
    store.record_queued([_queued("twice")])
    cancel_job(store.engine, "twice", NOW)
    assert cancel_job(store.engine, "twice", NOW).outcome is CancelOutcome.FINAL


def test_an_email_past_its_commit_point_keeps_its_job_from_being_cancelled(
    store: JobStore,
) -> None:
    _claimed(store, "mail-1")
    assert _commit(store, "mail-1")
    assert cancel_job(store.engine, "mail-1", NOW).outcome is CancelOutcome.PAST_RETURN
    record = store.get("mail-1")
    assert record is not None
    assert record.status is JobStatus.PROCESSING


def test_a_cancelled_job_cannot_pass_its_emails_commit_point(store: JobStore) -> None:
    _claimed(store, "mail-2")
    assert cancel_job(store.engine, "mail-2", NOW).outcome is CancelOutcome.CANCELLED
    with pytest.raises(JobNotRunningError):
        _commit(store, "mail-2")
    assert not _delivered(store, "mail-2")


def test_a_cancel_racing_a_commit_point_lets_exactly_one_of_them_win(store: JobStore) -> None:
    ids = [f"race-{n:03d}" for n in range(40)]
    for event_id in ids:
        _claimed(store, event_id)

    def commit(event_id: str, start: threading.Barrier) -> bool:
        start.wait()
        try:
            return _commit(store, event_id)
        except JobNotRunningError:
            return False

    def cancel(event_id: str, start: threading.Barrier) -> bool:
        start.wait()
        return cancel_job(store.engine, event_id, NOW).outcome is CancelOutcome.CANCELLED

    with ThreadPoolExecutor(2) as pool:
        for event_id in ids:
            start = threading.Barrier(2)
            committed = pool.submit(_retrying, commit, event_id, start)
            cancelled = pool.submit(_retrying, cancel, event_id, start)
            assert committed.result() != cancelled.result(), event_id
            record = store.get(event_id)
            assert record is not None
            assert (record.status is JobStatus.CANCELLED) == cancelled.result()
            assert _delivered(store, event_id) == committed.result()


def _retrying(act: Any, event_id: str, start: threading.Barrier) -> bool:
    """SQLite's writer lock may answer "database is locked" to a racer past its busy
    timeout; the answer that counts is the one its transaction commits."""
    while True:
        try:
            return bool(act(event_id, start))
        except OperationalError:
            start = threading.Barrier(1)


def test_a_chatty_handler_costs_one_statement_per_flush(store: JobStore) -> None:
    _claimed(store, "chatty")
    writer = ProgressWriter(store, interval=0.5)
    updates: list[str] = []

    def count(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        if "UPDATE jobs" in statement:
            updates.append(statement)

    event.listen(store.engine, "before_cursor_execute", count)
    for step in range(1, 1001):
        writer.report("chatty", Progress(step / 1000, f"step {step}", {"step": step}))
    assert writer.flush() == 1
    assert writer.flush() == 0  # nothing new: no statement
    event.remove(store.engine, "before_cursor_execute", count)
    assert len(updates) == 1
    assert writer.flushes == 1
    record = store.get("chatty")
    assert record is not None
    assert record.progress == JobProgress(1.0, "step 1000", {"step": 1000})


def test_progress_flushed_late_never_touches_a_job_that_ended_or_another_workers_run(
    store: JobStore,
) -> None:
    _claimed(store, "ended")
    _claimed(store, "moved", worker="another-host:1")
    writer = ProgressWriter(store, interval=0.5)
    writer.report("ended", Progress(0.25, "a quarter"))
    writer.flush()
    with store.engine.begin() as conn:
        transition(conn, [_queued("ended")._replace(status=JobStatus.SUCCEEDED)])
    writer.report("ended", Progress(0.9, "late"))
    writer.report("moved", Progress(0.9, "not mine"))
    assert writer.flush() == 0
    ended, moved = store.get("ended"), store.get("moved")
    assert ended is not None
    assert moved is not None
    assert ended.status is JobStatus.SUCCEEDED
    assert ended.progress == JobProgress(0.25, "a quarter", None)
    assert moved.progress is None


def test_a_new_run_starts_without_the_last_runs_progress(store: JobStore) -> None:
    _claimed(store, "again")
    writer = ProgressWriter(store, interval=0.5)
    writer.report("again", Progress(0.5, "half way"))
    writer.flush()
    _claimed(store, "again")  # redelivered after a crash: claimed again
    record = store.get("again")
    assert record is not None
    assert record.progress is None
    assert record.started_at == NOW
