"""The handlers of ``conveyor bench jobs``, imported by the worker it starts (and by each
process of a process pool): kept free of the bench's own imports.

:class:`CallService` waits on a slow HTTP service, as jobs that call remote services do;
:class:`Crunch` and :class:`CrunchOnLoop` do the same pure-Python arithmetic, the first as
a plain ``def`` (run in the stream's process pool), the second as an ``async def`` that
holds the worker's loop while it computes, as a handler written without a thought for
where it runs would.
"""

from __future__ import annotations

import asyncio

import aiohttp

from conveyor.kafka.events import Event
from conveyor.processors.handler import Handler, HandlerContext, Processed

__all__ = ["CallService", "Crunch", "CrunchOnLoop", "Sleep", "crunch"]


def crunch(rounds: int) -> int:
    """``rounds`` steps of integer arithmetic in the interpreter: the CPU and the GIL held
    throughout (hashlib would release the GIL on large inputs, and C loops would not be
    the Python a handler runs)."""
    value = 0
    for n in range(rounds):
        value = (value * 31 + n) % 1_000_000_007
    return value


class CallService(Handler):
    """GETs the event's ``url`` and succeeds with its status: an ``async def``, on the loop.

    With aiohttp, not httpx: httpx's connection pool walks every connection it holds on
    each request (encode/httpx #3215, encode/httpcore #1035), ~14 ms of CPU a request with
    100 connections open, measured here, which held the worker to ~65 jobs/s; aiohttp
    took ~0.15 ms.
    """

    def __init__(self, context: HandlerContext) -> None:
        super().__init__(context)
        self._session: aiohttp.ClientSession | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._closing: asyncio.Task[None] | None = None  # held, so it is not collected

    async def process(self, event: Event) -> Processed:
        if self._session is None:
            # Made on the loop that uses it, with a connection for each job in flight.
            self._loop = asyncio.get_running_loop()
            self._session = aiohttp.ClientSession(
                connector=aiohttp.TCPConnector(limit=self.context.stream.concurrency),
                timeout=aiohttp.ClientTimeout(total=30),
            )
        async with self._session.get(str(event.value["url"])) as response:
            response.raise_for_status()
            await response.read()
            return Processed({"status": response.status})

    def close(self) -> None:
        # The worker closes its handlers after Faust stopped its loop: a loop still open
        # runs the session's close (else aiohttp logs an error for each open connector);
        # a closed one took the connections with it.
        session, loop = self._session, self._loop
        if session is None or loop is None or session.closed or loop.is_closed():
            return
        if loop.is_running():
            self._closing = loop.create_task(session.close())
        else:
            loop.run_until_complete(session.close())


class Crunch(Handler):
    """The arithmetic as a plain ``def``: for a stream declared ``executor: process``."""

    def process(self, event: Event) -> Processed:
        return Processed({"value": crunch(int(event.value["rounds"]))})


class CrunchOnLoop(Handler):
    """The same arithmetic in an ``async def``, which holds the worker's loop throughout."""

    async def process(self, event: Event) -> Processed:
        return Processed({"value": crunch(int(event.value["rounds"]))})


class Sleep(Handler):
    """Takes the event's ``rounds`` milliseconds, waiting (``conveyor bench wait``: jobs
    long enough that a caller polling every 100 ms asks several times)."""

    async def process(self, event: Event) -> Processed:
        await asyncio.sleep(int(event.value["rounds"]) / 1000)
        return Processed({"slept_ms": event.value["rounds"]})
