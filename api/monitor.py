"""Background measurements the API answers from: consumer lag and dependency health.

Measured on a timer in a worker thread and cached, never per request: a request
reads the last measurement, so back pressure costs nothing on the hot path.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Iterable

from conveyor.config import StreamDeclaration
from conveyor.kafka.admin import KafkaAdmin
from conveyor.monitoring.lag import PartitionLag, measure_lag

__all__ = ["Monitor"]

log = logging.getLogger(__name__)


class Monitor:
    """Lag of the workers' group on every stream topic, and whether the registry answers."""

    def __init__(
        self,
        admin: KafkaAdmin,
        group: str,
        streams: Iterable[StreamDeclaration],
        interval: float,
        registry_ping: Callable[[], object],
    ) -> None:
        self._admin: KafkaAdmin | None = admin
        self._group = group
        self._streams = {s.name: s for s in streams}
        self._interval = interval
        self._registry_ping = registry_ping
        self._lag: dict[tuple[str, int], PartitionLag] = {}
        self._backlog: dict[str, int] = {}
        self._kafka_ok_at = 0.0
        self._registry_ok_at = 0.0
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        await self.refresh()
        self._task = asyncio.create_task(self._run(), name="monitor")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
        # Let the admin client go now rather than whenever the app is collected: a client
        # outliving its cluster keeps logging refused connections.
        if self._admin is not None:
            self._admin.close()
        self._admin = None

    async def refresh(self) -> None:
        # A stream's backlog is the sum over its priority levels.
        levels = {name: set(s.level_topics) for name, s in self._streams.items()}
        topics = [topic for topics in levels.values() for topic in topics]
        if self._admin is None:
            return
        try:
            self._lag = await asyncio.to_thread(measure_lag, self._admin, self._group, topics)
            # Summed here, once a measurement, not by every request that asks.
            self._backlog = {
                name: sum(p.lag for (t, _), p in self._lag.items() if t in levels[name])
                for name in self._streams
            }
            self._kafka_ok_at = time.monotonic()
        except Exception as exc:
            log.warning("lag measurement failed error=%r", exc)
        try:
            await asyncio.to_thread(self._registry_ping)
            self._registry_ok_at = time.monotonic()
        except Exception as exc:
            log.warning("schema registry check failed error=%r", exc)

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(self._interval)
            await self.refresh()

    def _fresh(self, stamp: float) -> bool:
        return time.monotonic() - stamp <= max(3 * self._interval, 5.0)

    @property
    def kafka_ok(self) -> bool:
        return self._fresh(self._kafka_ok_at)

    @property
    def registry_ok(self) -> bool:
        return self._fresh(self._registry_ok_at)

    def backlog(self, stream: str) -> int:
        return self._backlog.get(stream, 0)

    def max_backlog(self, stream: str) -> int:
        return self._streams[stream].max_backlog

    def over_backlog(self, stream: str) -> bool:
        return self.backlog(stream) > self.max_backlog(stream)

    def position(self, topic: str, partition: int) -> int | None:
        """Where the workers' group reads next on that partition, as last measured."""
        measured = self._lag.get((topic, partition))
        return None if measured is None else measured.position
