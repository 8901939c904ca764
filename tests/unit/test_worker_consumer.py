"""The worker's Faust consumer: a record's callback that does not wait costs no task,
and one that waits still races the flow's suspension, as in Faust."""

from __future__ import annotations

import asyncio
import inspect
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any, cast

import pytest
from faust.transport.drivers.aiokafka import AIOKafkaConsumerThread
from faust.types import TP, EventT, StreamT
from mode import Service

from conveyor.processors.consumer import EagerFirst, StallMonitor, Transport, WorkerApp, resume


class _Service(EagerFirst, Service):
    """The consumer's ``wait_first`` on a bare service: Faust's consumer starts a thread
    with an event loop of its own as it is made."""


@pytest.fixture
def consumer() -> Callable[[], _Service]:
    """Makes the service; call it on the running loop, which mode binds it to."""
    return _Service


def test_the_worker_app_consumes_with_the_eager_consumer(tmp_path: Path) -> None:
    # No network: Faust connects when the app starts, not when it is made.
    app = WorkerApp("consumer-test", broker="kafka://127.0.0.1:1", datadir=str(tmp_path))
    assert isinstance(app.transport, Transport)
    assert issubclass(app.transport.Consumer, EagerFirst)


def test_the_worker_app_keeps_only_what_faust_reads_of_its_monitor(tmp_path: Path) -> None:
    app = WorkerApp("consumer-test", broker="kafka://127.0.0.1:1", datadir=str(tmp_path))
    assert isinstance(app.monitor, StallMonitor)
    tp = TP("orders", 0)
    assert (
        app.monitor.on_stream_event_in(tp, 5, cast("StreamT[Any]", None), cast("EventT[Any]", None))
        is None
    )
    assert tp in app.monitor.stream_inbound_time
    assert app.monitor.events_total == 0  # counted for Faust's web views only: not kept
    # What the monitor keeps is what Faust's consumer reads to tell a stalled stream: if
    # Faust reads something else, this monitor must keep that instead.
    check = inspect.getsource(AIOKafkaConsumerThread.verify_event_path)
    assert "monitor.stream_inbound_time" in check
    read = set(re.findall(r"monitor\.(\w+)", check))
    assert read == {"stream_inbound_time"}


async def _tasks() -> int:
    return len(asyncio.all_tasks())


def test_a_callback_that_does_not_wait_runs_without_a_task(
    consumer: Callable[[], _Service],
) -> None:
    async def main() -> None:
        queue: asyncio.Queue[int] = asyncio.Queue(maxsize=1)
        suspended = asyncio.Event()
        before = await _tasks()

        async def callback() -> str:
            await queue.put(1)  # room: no suspension
            assert await _tasks() == before  # no task was made for it
            return "queued"

        raced = await consumer().wait_first(callback(), suspended.wait())
        assert raced.results == ["queued"]
        assert not raced.stopped
        assert queue.qsize() == 1

    asyncio.run(main())


def test_a_callback_that_waits_finishes_once_it_can(consumer: Callable[[], _Service]) -> None:
    async def main() -> None:
        queue: asyncio.Queue[int] = asyncio.Queue(maxsize=1)
        queue.put_nowait(0)
        suspended = asyncio.Event()

        async def callback() -> str:
            await queue.put(1)  # full: waits until the reader takes one
            return "queued"

        async def reader() -> None:
            await asyncio.sleep(0.01)
            assert queue.get_nowait() == 0

        task = asyncio.create_task(reader())
        raced = await consumer().wait_first(callback(), suspended.wait())
        await task
        assert raced.results == ["queued"]
        assert queue.get_nowait() == 1

    asyncio.run(main())


def test_a_waiting_callback_loses_to_a_suspension_and_puts_nothing(
    consumer: Callable[[], _Service],
) -> None:
    async def main() -> None:
        queue: asyncio.Queue[int] = asyncio.Queue(maxsize=1)
        queue.put_nowait(0)
        suspended = asyncio.Event()
        asyncio.get_running_loop().call_later(0.01, suspended.set)
        callback = queue.put(1)

        raced = await consumer().wait_first(callback, suspended.wait())

        assert callback not in raced.done
        assert raced.results == [True]  # the suspension's wait() won
        await asyncio.sleep(0.01)
        queue.get_nowait()
        assert queue.empty()  # the cancelled put left nothing behind

    asyncio.run(main())


def test_resume_carries_an_error_raised_after_the_wait() -> None:
    async def main() -> None:
        ready: asyncio.Future[None] = asyncio.get_running_loop().create_future()

        async def failing() -> None:
            await ready
            raise ValueError("after the wait")

        coro = failing()
        waiting = coro.send(None)
        ready.set_result(None)
        with pytest.raises(ValueError, match="after the wait"):
            await resume(coro, waiting)

    asyncio.run(main())


def test_resume_gives_a_bare_yield_one_turn_of_the_loop() -> None:
    async def main() -> None:
        async def yielding() -> int:
            await asyncio.sleep(0)
            return 7

        coro = yielding()
        assert await resume(coro, coro.send(None)) == 7

    asyncio.run(main())


def test_a_callback_that_fails_at_once_raises_and_leaves_no_racer_behind(
    consumer: Callable[[], _Service],
) -> None:
    async def main() -> None:
        async def callback() -> None:
            raise KeyError("no channel")

        with pytest.raises(KeyError, match="no channel"):
            await consumer().wait_first(callback(), asyncio.Event().wait())

    asyncio.run(main())  # an unclosed racer would warn, and warnings are errors here
