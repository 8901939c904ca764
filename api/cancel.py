"""Cancelling a job: what ``POST /v1/jobs/{event_id}/cancel`` and the dashboard's button
both call.

The job is cancelled in the result store (``store/cancels.py``), where the workers' gate
sees it: a queued job is never claimed, a running one is stopped by its worker's next
look and settles nothing. An event the API accepted a moment ago may still have its
``queued`` row in the job writer's next batch; that row is written first, so that the
cancel has a row to act on (and the worker's claim finds it cancelled).
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

from conveyor.api.exceptions import ConflictError, NotFoundError
from conveyor.api.state import AppState
from conveyor.config import ApiKey
from conveyor.kafka.changes import change_of
from conveyor.store import JobRecord, JobStatus, JobStore
from conveyor.store.cancels import CancelOutcome, cancel_job
from conveyor.store.results import OutboxValues

__all__ = ["JobCanceller"]


class JobCanceller:
    def __init__(self, state: AppState, store: JobStore) -> None:
        self._state = state
        self._store = store

    async def __call__(self, event_id: str, key: ApiKey | None = None) -> JobRecord:
        """Cancel the job; its view afterwards. ``key`` must be allowed on the job's stream
        (403); an unknown id is 404, a job that ended or whose e-mail passed its point of
        no return 409."""
        running = self._state.require_running()
        pending = running.jobs.pending(event_id)
        record = pending or await asyncio.to_thread(self._store.get, event_id)
        if record is None:
            raise NotFoundError(f"no event {event_id!r} was accepted")
        self._state.auth.authorize(key, record.stream)
        if pending is not None:
            await running.jobs.write_now(event_id)
        feed = running.feeds[record.stream]

        def announce(cancelled: JobRecord) -> list[OutboxValues]:
            return [r.row() for r in feed.records([(cancelled.partition, change_of(cancelled))])]

        done = await asyncio.to_thread(
            cancel_job, self._store.engine, event_id, datetime.now(UTC), announce
        )
        if done.outcome is CancelOutcome.FINAL:
            assert done.status is not None
            raise ConflictError(
                f"the job is {done.status.value}: too late to cancel", done.status.value
            )
        if done.outcome is CancelOutcome.PAST_RETURN:
            raise ConflictError(
                "the job's e-mail is past its point of no return: too late to cancel",
                JobStatus.PROCESSING.value,
            )
        cancelled = await asyncio.to_thread(self._store.get, event_id)
        if done.outcome is CancelOutcome.UNKNOWN or cancelled is None:
            raise NotFoundError(f"no event {event_id!r} was accepted")
        return cancelled

    async def status_after(self, event_id: str) -> str:
        """Cancel the job and answer the status it is in, cancelled or not (the dashboard's
        button shows it in place)."""
        try:
            return (await self(event_id)).status.value
        except ConflictError as exc:
            return exc.job_status
