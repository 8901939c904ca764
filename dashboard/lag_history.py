"""Consumer lag sampled in the API process, the last hour of it kept for the charts.

Kept in memory, bounded, and lost on a restart: lag is a reading of Kafka now, not a
record of the jobs, and the chart wants the recent shape of it; Kafka keeps no history of
it to read back. What happened to jobs comes from the result store, never from here.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import deque
from collections.abc import Sequence

from conveyor.kafka.admin import KafkaAdmin
from conveyor.monitoring.snapshot import LagSnapshot, take_snapshot

__all__ = ["LagHistory"]

log = logging.getLogger(__name__)

_TIMEOUT = 10.0


class LagHistory:
    """The workers' group on ``topics``, sampled every ``interval`` seconds in a thread."""

    def __init__(
        self,
        admin: KafkaAdmin,
        group: str,
        topics: Sequence[str],
        interval: float,
        samples: int,
    ) -> None:
        self._admin = admin
        self._group = group
        self._topics = list(topics)
        self._interval = interval
        self._snapshots: deque[LagSnapshot] = deque(maxlen=samples)
        self._task: asyncio.Task[None] | None = None
        self._stopping = asyncio.Event()

    @property
    def snapshots(self) -> list[LagSnapshot]:
        return list(self._snapshots)

    @property
    def latest(self) -> LagSnapshot | None:
        return self._snapshots[-1] if self._snapshots else None

    async def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="dashboard-lag")

    async def stop(self) -> None:
        # Not a cancel: a sample runs in a thread that a cancel would leave running, and
        # one that outlived the close below would open a new group reader nobody closes
        # (three such consumers were still dialling a stopped broker at the suite's exit).
        # A sample in hand ends within its timeout.
        self._stopping.set()
        if self._task is not None:
            await asyncio.gather(self._task, return_exceptions=True)
        self._admin.close()

    async def sample(self) -> None:
        try:
            snapshot = await asyncio.to_thread(
                take_snapshot, self._admin, [self._group], self._topics, _TIMEOUT
            )
        except Exception as exc:
            # Kafka not answering is what the page shows (an old sample); the API goes on.
            log.warning("dashboard lag sample failed error=%r", exc)
            return
        self._snapshots.append(snapshot)

    async def _run(self) -> None:
        while not self._stopping.is_set():
            await self.sample()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stopping.wait(), self._interval)
