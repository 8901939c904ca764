"""Handlers' progress reports, coalesced per job and written a few times a second.

A handler may report on every step of a loop: :meth:`ProgressWriter.report` only keeps
the latest report of each job in memory, on whatever thread the handler runs. Every
``workers.progress_interval_seconds`` a task hands what piled up to a thread, which
writes all of it in one statement (``store/progress.py``); nothing of this is on the
handler's path, and a chatty handler costs the store one row per interval. A report
flushed after its job settled changes nothing: only a job still ``processing`` in this
worker's run takes one.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import os
import socket
import threading
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from conveyor.kafka.changes import ChangeFeedWriter, change_of
from conveyor.kafka.records import OutboxRecord
from conveyor.processors.handler import Progress
from conveyor.store import JobStore
from conveyor.store.jobs import JobProgress, JobRecord, JobStatus
from conveyor.store.progress import ProgressRow, ProgressTaken, write_progress
from conveyor.store.results import append_outbox

__all__ = ["ProgressWriter", "worker_name"]

log = logging.getLogger(__name__)


@functools.cache
def worker_name() -> str:
    """This worker, as a job's ``worker`` names it: ``host:pid``. Known before the worker
    joins its group (its claims name it) and the same for its whole life, where a Faust
    member id is neither; the dashboard's lag page tells which host holds which partition."""
    return f"{socket.gethostname()}:{os.getpid()}"


class ProgressWriter:
    def __init__(
        self, store: JobStore, interval: float, feeds: Mapping[str, ChangeFeedWriter] | None = None
    ) -> None:
        self._store = store
        self._interval = interval
        self._feeds = feeds or {}  # by stream: where its jobs' reports are published
        self._pending: dict[str, Progress] = {}
        # Handlers in threads report too; a swap of the dict under the lock takes them all.
        self._lock = threading.Lock()
        self.flushes = 0  # statements written, for tests and the curious

    def report(self, event_id: str, progress: Progress) -> None:
        """Keep ``progress`` as ``event_id``'s latest (a :class:`RunningJob`'s reporter)."""
        with self._lock:
            self._pending[event_id] = progress

    def flush(self) -> int:
        """Write what is pending (blocking); returns how many jobs took their report."""
        with self._lock:
            pending, self._pending = self._pending, {}
        if not pending:
            return 0
        rows = [
            ProgressRow(event_id, p.fraction, p.message, p.partial)
            for event_id, p in sorted(pending.items())
        ]
        now = datetime.now(UTC)
        with self._store.engine.begin() as conn:
            taken = write_progress(conn, worker_name(), rows)
            append_outbox(conn, (r.row() for r in self._changes(taken, pending, now)))
        self.flushes += 1
        return len(taken)

    def _changes(
        self, taken: list[ProgressTaken], pending: dict[str, Progress], now: datetime
    ) -> list[OutboxRecord]:
        by_stream: dict[str, list[tuple[int, dict[str, Any]]]] = {}
        for job in taken:
            if job.stream not in self._feeds:
                continue
            progress = pending[job.event_id]
            record = JobRecord(
                job.event_id,
                job.stream,
                "",
                job.partition,
                0,
                JobStatus.PROCESSING,
                now,
                now,
                attempts=job.attempts,
                worker=worker_name(),
                key=job.key,
            )
            change = change_of(record, JobProgress(progress.fraction, progress.message, None))
            by_stream.setdefault(job.stream, []).append((job.partition, change))
        return [
            r for name, changes in by_stream.items() for r in self._feeds[name].records(changes)
        ]

    async def run(self) -> None:
        """Flush every interval until cancelled. Progress is advice: a flush the store
        could not take is dropped, and the next report brings the job up to date."""
        while True:
            await asyncio.sleep(self._interval)
            try:
                await self._store.write(self.flush)
            except Exception as exc:
                log.warning("progress not written; dropped error=%r", exc)
