"""Recording accepted events as ``queued`` jobs, in batches, off the request path.

A request does not wait for the database: its rows join the next batch (written
every 100 ms, so thousands of rows share one transaction) and stay answerable from
memory until then. Kafka is the durable record of an accepted event; if a worker
reaches the event before its batch is written (or the API dies first), the worker's
claim creates the row, with the same topic, partition, offset and accept time, and the
API's insert leaves it be. Whichever writes first also gives the ``event_id`` to its
stream (see ``store/results.py``).
"""

from __future__ import annotations

import asyncio
import logging
from functools import partial

from conveyor.store import JobRecord, JobStore

__all__ = ["JobWriter"]

log = logging.getLogger(__name__)


class JobWriter:
    def __init__(self, store: JobStore, interval: float = 0.1) -> None:
        self._store = store
        self._interval = interval
        self._pending: dict[str, JobRecord] = {}
        self._task: asyncio.Task[None] | None = None

    def add(self, records: list[JobRecord]) -> None:
        for record in records:
            self._pending.setdefault(record.event_id, record)

    def pending(self, event_id: str) -> JobRecord | None:
        return self._pending.get(event_id)

    async def write_now(self, event_id: str) -> None:
        """Write ``event_id``'s pending row at once, for what must act on the row (a cancel)."""
        record = self._pending.get(event_id)
        if record is not None:
            await self._store.write(partial(self._store.record_queued, [record]))
            self._pending.pop(event_id, None)

    async def start(self) -> None:
        await asyncio.to_thread(self._store.create_schema)
        self._task = asyncio.create_task(self._run(), name="job-writer")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
        await self.flush()

    async def flush(self) -> None:
        if not self._pending:
            return
        batch = list(self._pending.values())
        try:
            await self._store.write(partial(self._store.record_queued, batch))
        except Exception as exc:
            log.warning("writing queued jobs failed rows=%d error=%r", len(batch), exc)
            return
        for record in batch:
            self._pending.pop(record.event_id, None)

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(self._interval)
            await self.flush()
