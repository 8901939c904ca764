"""Callers waiting for their jobs to end (``GET /v1/jobs/{event_id}?wait=N``), all fed by
one watcher.

A caller registers the job it waits for and sleeps on a future; every
``api.wait_poll_seconds``, while anyone waits, one query reads those of the waited-for
jobs that are final now, and hands each its caller, who answers with it. Thousands of
callers cost a query a round, never a loop or a read each, and the query reads the
waited-for rows by their primary key only: it needs no index and costs nothing while
nobody waits.

The store, not the outputs on Kafka, says when a job ended: its status is final once the
settle commits, before the relay publishes what the job produced.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

from conveyor.store import JobRecord, JobStore
from conveyor.store.jobs import FINAL_STATUSES

__all__ = ["JobWatcher"]

log = logging.getLogger(__name__)


class JobWatcher:
    """Wakes the callers waiting for jobs once the store shows them final."""

    def __init__(self, store: JobStore, interval: float) -> None:
        self._store = store
        self._interval = interval
        self._waiting: dict[str, list[asyncio.Future[JobRecord | None]]] = {}
        self._someone_waits = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._released = False

    def __len__(self) -> int:
        """Callers waiting now."""
        return sum(len(futures) for futures in self._waiting.values())

    async def start(self) -> None:
        self._task = asyncio.create_task(self._watch(), name="conveyor-job-watcher")

    def release(self) -> None:
        """Wake every caller now and any later one at once: the API is stopping, and the
        server finishes the requests in flight before it stops (a wait would hold it)."""
        self._released = True
        for futures in self._waiting.values():
            for future in futures:
                if not future.done():
                    future.set_result(None)

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        for futures in self._waiting.values():
            for future in futures:
                future.cancel()
        self._waiting.clear()

    async def until_final(self, event_id: str) -> JobRecord | None:
        """The job of ``event_id`` once it is final in the store (the caller bounds the
        wait); None if the API is stopping. Each round reads the jobs as they are, not their
        changes: a job that ended before this call is handed over on the next round."""
        if self._released:
            return None
        future: asyncio.Future[JobRecord | None] = asyncio.get_running_loop().create_future()
        self._waiting.setdefault(event_id, []).append(future)
        self._someone_waits.set()
        try:
            return await future
        finally:
            futures = self._waiting.get(event_id)
            if futures is not None:
                with contextlib.suppress(ValueError):
                    futures.remove(future)
                if not futures:
                    del self._waiting[event_id]

    async def _watch(self) -> None:
        while True:
            await self._someone_waits.wait()
            if not self._waiting:
                self._someone_waits.clear()
                continue
            try:
                ended = await asyncio.to_thread(
                    self._store.get_many, list(self._waiting), FINAL_STATUSES
                )
            except Exception as exc:
                # The callers' own timeouts still answer them; the next round asks again.
                log.warning("waited-for jobs not checked error=%r", exc)
                ended = {}
            for event_id, record in ended.items():
                for future in self._waiting.pop(event_id, ()):
                    if not future.done():
                        future.set_result(record)
            await asyncio.sleep(self._interval)
