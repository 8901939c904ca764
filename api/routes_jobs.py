"""``GET /v1/jobs/{event_id}``: where an accepted event is on its way (``?wait=N``: once it
ended, or after N seconds);
``POST /v1/jobs/{event_id}/cancel``: stop it."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from typing import Any

from fastapi import APIRouter, Query, Request

from conveyor.api.cancel import JobCanceller
from conveyor.api.exceptions import NotFoundError
from conveyor.api.state import AppState
from conveyor.api.webhooks import describe_delivery, webhook_streams
from conveyor.kafka.webhooks import delivery_id
from conveyor.store import JobRecord, JobStatus
from conveyor.store.jobs import FINAL_STATUSES

__all__ = ["JobViews", "jobs_router"]


def jobs_router(state: AppState, views: JobViews, cancel: JobCanceller) -> APIRouter:
    router = APIRouter(prefix="/v1/jobs", tags=["jobs"])

    # Declared with the id as a :path too, so that an id holding "/" is cancelled, not read:
    # a POST is routed by its whole path, which only this route matches.
    @router.post(
        "/{event_id:path}/cancel",
        responses={
            403: {"description": "The key is not allowed on the job's stream."},
            404: {"description": "No such event."},
            409: {"description": "The job ended, or its e-mail passed its point of no return."},
        },
    )
    async def cancel_job(event_id: str, request: Request) -> dict[str, Any]:
        """Cancel a queued or running job: a queued job never runs, a running one is
        stopped, and a cancelled job applies nothing (no output, no aggregate share, no
        e-mail), even if its record is delivered again. Answers the job, ``cancelled``."""
        key = state.auth.authenticate(request.headers)
        return _describe(await cancel(event_id, key), None, owner=True)

    # :path, because an id may hold "/": its status URL encodes it as %2F, which the server
    # decodes before routing.
    max_wait = state.settings.api.max_wait_seconds

    @router.get("/{event_id:path}", responses={404: {"description": "No such event."}})
    async def get_job(
        event_id: str,
        request: Request,
        # Not Annotated: the bound is this API's setting, which an annotation (a string under
        # postponed evaluation) could not name.
        wait: float | None = Query(
            None,
            gt=0,
            le=max_wait,
            description="Seconds to wait for the job to end before answering: the answer "
            "comes as soon as it is final, or after this long with its status then.",
        ),
    ) -> dict[str, Any]:
        """The job's status; while ``queued``, how many events of its partition are ahead.
        ``copies`` lists events of other streams that came under the same id: each was
        recorded and never applied. A key scoped only for a copy's stream sees the job
        without its result or error, which are the other stream's."""
        return await views.view(event_id, request, wait)

    return router


class JobViews:
    """A job's view as ``GET /v1/jobs/{event_id}`` gives it, for the routes that need one."""

    def __init__(self, state: AppState, lookup: Callable[[str], JobRecord | None]) -> None:
        self._state = state
        self._lookup = lookup
        self._may_have_webhook = webhook_streams(state.settings)

    async def read(self, event_id: str) -> JobRecord:
        """The job of ``event_id`` (404 if none), its row perhaps still in the job writer."""
        running = self._state.require_running()
        found = running.jobs.pending(event_id) or await asyncio.to_thread(self._lookup, event_id)
        if found is None:
            raise NotFoundError(f"no event {event_id!r} was accepted")
        return found

    async def authorized(self, event_id: str, request: Request) -> tuple[JobRecord, bool]:
        """The job, if the request's key may see it, and whether as its owner (the key is
        allowed on its stream, not only on a copy's)."""
        key = self._state.auth.authenticate(request.headers)
        record = await self.read(event_id)
        seen_as = self._state.auth.authorize(key, record.stream, *(c.stream for c in record.copies))
        return record, seen_as == record.stream

    async def view(self, event_id: str, request: Request, wait: float | None) -> dict[str, Any]:
        record, owner = await self.authorized(event_id, request)
        running = self._state.require_running()
        if wait is not None and record.status not in FINAL_STATUSES:
            ended = None
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(wait):
                    ended = await running.watcher.until_final(event_id)
            record = ended or await self.read(event_id)
        job = self.describe(record, owner=owner)
        if record.status in FINAL_STATUSES and self._may_have_webhook(record.stream):
            delivery = await asyncio.to_thread(
                self._lookup, delivery_id(event_id, record.status.value)
            )
            if delivery is not None:
                job["webhook"] = describe_delivery(delivery)
        return job

    def describe(self, record: JobRecord, *, owner: bool) -> dict[str, Any]:
        running = self._state.require_running()
        position = running.monitor.position(record.topic, record.partition)
        return _describe(record, position, owner=owner)


def _describe(record: JobRecord, position: int | None, *, owner: bool) -> dict[str, Any]:
    job: dict[str, Any] = {
        "event_id": record.event_id,
        "stream": record.stream,
        "status": record.status.value,
        "topic": record.topic,
        "partition": record.partition,
        "offset": record.offset,
        "accepted_at": record.accepted_at.isoformat(),
        "updated_at": record.updated_at.isoformat(),
    }
    if record.status is JobStatus.QUEUED and position is not None:
        job["ahead"] = max(record.offset - position, 0)
    if owner and record.result is not None:
        job["result"] = record.result
    if owner and record.error is not None:
        job["error"] = record.error
    if record.attempts:
        job["attempts"] = record.attempts
    if record.started_at is not None:
        job["started_at"] = record.started_at.isoformat()
    if record.worker is not None:
        job["worker"] = record.worker
    if record.progress is not None:
        progress = job["progress"] = {
            "fraction": record.progress.fraction,
            "message": record.progress.message,
        }
        if owner and record.progress.partial is not None:
            progress["partial_result"] = record.progress.partial
    if record.copies:
        job["copies"] = [
            {
                "stream": copy.stream,
                "topic": copy.topic,
                "partition": copy.partition,
                "offset": copy.offset,
                "accepted_at": copy.accepted_at.isoformat(),
                "recorded_at": copy.recorded_at.isoformat(),
            }
            for copy in record.copies
        ]
    return job
