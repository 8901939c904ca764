"""Faust's Kafka consumer, without two tasks per record.

Faust hands every fetched record to its streams through
``Service.wait_first(callback(message), suspend_flow.wait())``: the callback races
the flow being suspended for a rebalance, so that a callback stuck on a full stream
buffer cannot hold the rebalance up. ``wait_first`` makes a task of each racer, plus
two more for the service's stopped and crashed flags, and waits on them, for every
record: half of the worker's Faust time, though the callback almost never waits at
all (it queues the record and returns).

:class:`EagerFirst` runs the callback up to its first suspension first. If it finishes
there (the common case), that is the result, with no task made; if it suspends, the
rest of it joins the race exactly as before, so a rebalance still wins over a full
buffer. :class:`WorkerApp` is the Faust app that consumes with it.

The same consumer polls priority levels highest first (:class:`LevelsFirst`): see
``processors/priorities.py``. And :class:`StallMonitor` keeps of Faust's statistics per
record only what Faust itself reads.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Coroutine, Mapping
from types import CoroutineType, MappingProxyType
from typing import Any, cast

import faust
from faust.sensors import Monitor
from faust.transport.consumer import RecordMap
from faust.transport.drivers import aiokafka
from faust.types import TP, ConsumerT, EventT, Message, StreamT, TransportT
from mode import Service
from mode.services import WaitArgT, WaitResults

from conveyor.processors.priorities import poll_order

__all__ = ["EagerFirst", "LevelsFirst", "StallMonitor", "Transport", "WorkerApp", "resume"]


class EagerFirst(Service):
    """``wait_first`` that runs its first racer up to its first suspension before racing."""

    # mode's own signature, whose ``timeout: Seconds = None`` is an implicit Optional.
    async def wait_first(self, *coros: WaitArgT, timeout: Any = None) -> WaitResults:  # noqa: ASYNC109
        first = coros[0] if coros else None
        if not _is_coroutine(first) or self._stopped.is_set() or self._crashed.is_set():
            return await super().wait_first(*coros, timeout=timeout)
        first = cast(Coroutine[Any, Any, Any], first)
        try:
            waiting = first.send(None)
        except StopIteration as finished:
            _close(coros[1:])
            return WaitResults([first], [finished.value], False)
        except BaseException:
            _close(coros[1:])
            raise
        rest = resume(first, waiting)
        raced = await super().wait_first(rest, *coros[1:], timeout=timeout)
        done = [first if winner is rest else winner for winner in raced.done]
        return WaitResults(done, raced.results, raced.stopped)


def _is_coroutine(racer: object) -> bool:
    # A coroutine of an ``async def`` by its exact type first: the ABC's isinstance check
    # cost ~0.3 µs, twice a record.
    return type(racer) is CoroutineType or isinstance(racer, Coroutine)


def _close(racers: tuple[WaitArgT, ...]) -> None:
    for racer in racers:
        if _is_coroutine(racer):
            cast(Coroutine[Any, Any, Any], racer).close()  # never started: nothing to undo


async def resume(coro: Coroutine[Any, Any, Any], waiting: Any) -> Any:
    """Drive ``coro`` on from a suspension on ``waiting`` (what it yielded), as the
    task running it would have: wait for that future, then send the coroutine on; a
    cancellation cancels the future and is thrown into the coroutine."""
    while True:
        try:
            if waiting is None:
                await asyncio.sleep(0)  # a bare yield: one turn of the loop
            else:
                waiting._asyncio_future_blocking = False
                await asyncio.wait([waiting])
        except asyncio.CancelledError as exc:
            if waiting is not None:
                waiting.cancel()
            try:
                waiting = coro.throw(exc)
            except StopIteration as finished:
                return finished.value
            continue
        try:
            waiting = coro.send(None)
        except StopIteration as finished:
            return finished.value


class LevelsFirst(aiokafka.Consumer):
    """A poll that takes what was fetched for the higher priority levels before the lower.

    aiokafka hands out fetched records partition by partition in the order they were
    fetched, so one poll of every partition gives a high level's fresh records only after
    a low level's earlier fetch (thousands of records) is handed over. Here each level is
    asked in turn without waiting, highest first, and what they hold goes out together;
    only when none holds anything does the poll wait, on all of them, for the next fetch.
    """

    app: WorkerApp

    # Faust's own signature.
    async def _getmany(
        self,
        active_partitions: set[TP] | None,
        timeout: float,  # noqa: ASYNC109
    ) -> RecordMap:
        groups = poll_order(active_partitions or (), self.app.level_ranks)
        if len(groups) < 2:
            return await super()._getmany(active_partitions, timeout)
        records: dict[TP, list[Any]] = {}
        for group in groups:
            records.update(await super()._getmany(group, 0))
        return records or await super()._getmany(active_partitions, timeout)


class Consumer(EagerFirst, LevelsFirst):
    pass


class Transport(aiokafka.Transport):
    Consumer = Consumer


class StallMonitor(Monitor):
    """Faust's monitor, keeping per record only when each partition's stream last took
    one, which Faust's consumer reads to tell a stalled stream (``verify_event_path``).

    The rest of what the monitor counts and times per record (a dict per event, counters
    by topic and stream, the record's times in and out) feeds Faust's web views, which a
    worker does not serve: 2-3 µs of a worker's CPU a record.
    """

    def on_message_in(self, tp: TP, offset: int, message: Message) -> None:
        pass

    def on_stream_event_in(
        self, tp: TP, offset: int, stream: StreamT[Any], event: EventT[Any]
    ) -> dict[str, Any] | None:
        self.stream_inbound_time[tp] = time.monotonic()
        return None

    def on_stream_event_out(
        self,
        tp: TP,
        offset: int,
        stream: StreamT[Any],
        event: EventT[Any],
        state: dict[str, Any] | None = None,
    ) -> None:
        pass

    def on_message_out(self, tp: TP, offset: int, message: Message) -> None:
        pass


async def _keep_all(_partitions: set[tuple[str, int]] | None) -> None:
    return None


class WorkerApp(faust.App):
    """The Faust app of a conveyor worker: Faust's own, consuming with :class:`Consumer`.

    Faust waits for every record it delivered to be acked before a rebalance or a stop
    goes on (``wait_empty``), on every partition: a job of an hour on a partition this
    worker keeps would hold the whole group that long. Here the worker gives up the jobs
    of the partitions it loses instead (``give_up``: all of them when it stops), bounded
    in time, and commits what settled.
    """

    # Each lower priority level's topic by rank (processors/priorities.py, level_ranks).
    level_ranks: Mapping[str, int] = MappingProxyType({})
    # Called with the partitions revoked, or None when the worker stops.
    give_up: Callable[[set[tuple[str, int]] | None], Awaitable[None]] = staticmethod(_keep_all)
    _revoking: set[tuple[str, int]] | None = None

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("Monitor", StallMonitor)
        super().__init__(*args, **kwargs)

    def _new_transport(self) -> TransportT:
        return Transport(self.conf.broker_consumer, self)

    async def _on_partitions_revoked(self, revoked: set[TP]) -> None:
        self._revoking = {(tp.topic, tp.partition) for tp in revoked}
        try:
            await super()._on_partitions_revoked(revoked)
        finally:
            self._revoking = None

    async def _consumer_wait_empty(self, consumer: ConsumerT, logger: Any) -> None:
        await self.give_up(self._revoking)
        await consumer.commit()
