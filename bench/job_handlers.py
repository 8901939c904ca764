"""The handlers of ``conveyor bench jobs``, imported by the worker it starts (and by each
process of a process pool): kept free of the bench's own imports.

:class:`CallService` waits on a slow HTTP service, as jobs that call remote services do;
:class:`Crunch` and :class:`CrunchOnLoop` do the same pure-Python arithmetic, the first as
a plain ``def`` (run in the stream's process pool), the second as an ``async def`` that
holds the worker's loop while it computes, as a handler written without a thought for
where it runs would.
"""

from __future__ import annotations

import httpx

from conveyor.kafka.events import Event
from conveyor.processors.handler import Handler, HandlerContext, Processed

__all__ = ["CallService", "Crunch", "CrunchOnLoop", "crunch"]


def crunch(rounds: int) -> int:
    """``rounds`` steps of integer arithmetic in the interpreter: the CPU and the GIL held
    throughout (hashlib would release the GIL on large inputs, and C loops would not be
    the Python a handler runs)."""
    value = 0
    for n in range(rounds):
        value = (value * 31 + n) % 1_000_000_007
    return value


class CallService(Handler):
    """GETs the event's ``url`` and succeeds with its status: an ``async def``, on the loop."""

    def __init__(self, context: HandlerContext) -> None:
        super().__init__(context)
        self._client: httpx.AsyncClient | None = None

    async def process(self, event: Event) -> Processed:
        if self._client is None:
            # Made on the loop that uses it, with a connection for each job in flight:
            # httpx keeps 20 alive by default, and would open and close the rest each time.
            held = self.context.stream.concurrency
            self._client = httpx.AsyncClient(
                limits=httpx.Limits(max_connections=held, max_keepalive_connections=held),
                timeout=30.0,
            )
        response = await self._client.get(str(event.value["url"]))
        response.raise_for_status()
        return Processed({"status": response.status_code})


class Crunch(Handler):
    """The arithmetic as a plain ``def``: for a stream declared ``executor: process``."""

    def process(self, event: Event) -> Processed:
        return Processed({"value": crunch(int(event.value["rounds"]))})


class CrunchOnLoop(Handler):
    """The same arithmetic in an ``async def``, which holds the worker's loop throughout."""

    async def process(self, event: Event) -> Processed:
        return Processed({"value": crunch(int(event.value["rounds"]))})
