"""Handlers that hold their jobs until a test lets them go, and leave marks of what they
did in ``<data_dir>/marks``: how often each job's handler was called, whether it saw its
cancellation, whether it finished. The worker imports them (``PYTHONPATH`` holds tests/)."""

from __future__ import annotations

import asyncio
import os
import time
from pathlib import Path
from urllib.parse import quote

from conveyor.kafka.events import Event
from conveyor.processors.handler import Handler, Processed
from conveyor.processors.pipeline.notifications import EmailHandler
from conveyor.processors.pipeline.orders import OrderHandler
from conveyor.processors.pipeline.reports import RevenueChartHandler

__all__ = [
    "LONG_SECONDS",
    "HeldEmails",
    "HeldOrders",
    "HeldOrdersInThreads",
    "HeldReports",
    "LongOrders",
    "Marks",
    "release",
]

# A job is held by an event whose id starts so; any other runs through.
HOLD = "hold-"
# A job of an event whose id starts so takes LONG_SECONDS; any other runs through.
LONG = "long-"
LONG_SECONDS = 90.0


class Marks:
    """What the handlers of a test's worker did, by event id."""

    def __init__(self, data_dir: Path) -> None:
        self.directory = data_dir / "marks"

    def add(self, event_id: str, what: str) -> None:
        self.directory.mkdir(exist_ok=True)
        with self._path(event_id, what).open("a") as mark:
            mark.write("x")

    def count(self, event_id: str, what: str) -> int:
        path = self._path(event_id, what)
        return len(path.read_text()) if path.exists() else 0

    def put(self, event_id: str, what: str, text: str) -> None:
        self.directory.mkdir(exist_ok=True)
        self._path(event_id, what).write_text(text)

    def get(self, event_id: str, what: str) -> str | None:
        path = self._path(event_id, what)
        return path.read_text() if path.exists() else None

    def _path(self, event_id: str, what: str) -> Path:
        return self.directory / f"{quote(event_id, safe='')}.{what}"  # ids may hold "/"


def release(data_dir: Path, event_id: str) -> None:
    Marks(data_dir).add(event_id, "released")


class _Held(Handler):
    """Reports half way, then waits (in steps) for the test's release."""

    pure = False  # its jobs are watched while they run: claimed, processing, progress

    def _marks(self) -> Marks:
        return Marks(self.context.settings.data_dir)

    def _started(self, event: Event) -> bool:
        marks = self._marks()
        marks.add(event.event_id, "called")
        if not event.event_id.startswith(HOLD):
            return False
        self.context.progress(0.5, "half way", {"step": 1})
        return True

    async def _hold(self, event: Event) -> None:
        if not self._started(event):
            return
        try:
            # The release is a file the test process writes: polled, as nothing can signal it.
            while not self._marks().count(event.event_id, "released"):  # noqa: ASYNC110
                await asyncio.sleep(0.05)
        except asyncio.CancelledError:
            self._marks().add(event.event_id, "cancelled")
            raise
        self._marks().add(event.event_id, "finished")


class HeldOrders(_Held, OrderHandler):
    async def process(self, event: Event) -> Processed:
        await self._hold(event)
        return await OrderHandler.process(self, event)


class HeldOrdersInThreads(_Held, OrderHandler):
    """A plain ``def process``: runs in a thread, and checks ``context.cancelled()``."""

    def process(self, event: Event) -> Processed:  # type: ignore[override]
        if self._started(event):
            while not self._marks().count(event.event_id, "released"):
                if self.context.cancelled():
                    self._marks().add(event.event_id, "cancelled")
                    return Processed({"stopped": True})
                time.sleep(0.05)
            self._marks().add(event.event_id, "finished")
        return asyncio.run(OrderHandler.process(self, event))


class HeldEmails(_Held, EmailHandler):
    async def process(self, event: Event) -> Processed:
        await self._hold(event)
        return await EmailHandler.process(self, event)


class HeldReports(_Held, RevenueChartHandler):
    """A plain ``def process`` for a stream declared ``executor: process``: notes its
    process's pid, then waits for the release and never looks at ``context.cancelled()``
    (a process-pool job is stopped by killing its process); once released it draws the
    report, its one effect (a file)."""

    def process(self, event: Event) -> Processed:
        self._marks().put(event.event_id, "pid", str(os.getpid()))
        if self._started(event):
            while not self._marks().count(event.event_id, "released"):
                time.sleep(0.05)
            self._marks().add(event.event_id, "finished")
        return RevenueChartHandler.process(self, event)


class LongOrders(_Held, OrderHandler):
    """Orders whose event id starts with ``long-`` take ``LONG_SECONDS`` on the loop,
    reporting how far they are each second; any other runs through at once."""

    async def process(self, event: Event) -> Processed:
        marks = self._marks()
        marks.add(event.event_id, "called")
        if event.event_id.startswith(LONG):
            began = time.monotonic()
            while (spent := time.monotonic() - began) < LONG_SECONDS:
                self.context.progress(spent / LONG_SECONDS, "taking its time")
                await asyncio.sleep(1.0)
            marks.add(event.event_id, "finished")
        return await OrderHandler.process(self, event)
