"""Handlers for tests of where and how jobs run: they report the process they ran in."""

from __future__ import annotations

import os
import time

from conveyor.kafka.events import Event
from conveyor.processors.handler import Handler, Processed


class SpinHandler(Handler):
    """Holds the CPU (and the GIL) for ``spin_ms`` of the event, reporting progress; a
    ``spin_ms`` of -1 spins until its process is killed."""

    def process(self, event: Event) -> Processed:
        spin = float(event.value.get("spin_ms", 0)) / 1000
        began = time.monotonic()
        while spin < 0 or time.monotonic() - began < spin:
            sum(range(10_000))
            if spin > 0:
                self.context.progress((time.monotonic() - began) / spin, "spinning")
        return Processed({"pid": os.getpid()})


class BrokenHandler(Handler):
    """Fails to build: a process of it never becomes ready."""

    def __init__(self, *args: object) -> None:
        raise RuntimeError("no handler today")
