"""Handlers for tests of where and how jobs run: they report the process they ran in."""

from __future__ import annotations

import multiprocessing
import os
import time
from pathlib import Path

from conveyor.kafka.events import Event
from conveyor.processors.handler import Handler, Processed


def _spin_ms(event: Event) -> float:
    """``spin_ms`` of the event; on the reports stream, its requester ``spin-<ms>``."""
    if "spin_ms" in event.value:
        return float(event.value["spin_ms"])
    return float(str(event.value.get("requester", "spin-0")).removeprefix("spin-"))


class SpinHandler(Handler):
    """Holds the CPU (and the GIL) for ``spin_ms`` of the event, reporting progress; a
    ``spin_ms`` of -1 spins until its process is killed."""

    def process(self, event: Event) -> Processed:
        # Where it runs, before it spins: a job killed under it leaves its pid behind.
        pids = Path(self.context.settings.data_dir) / "pids"
        pids.mkdir(parents=True, exist_ok=True)
        (pids / event.event_id).write_text(str(os.getpid()))
        spin = _spin_ms(event) / 1000
        began = time.monotonic()
        while spin < 0 or time.monotonic() - began < spin:
            sum(range(10_000))
            if spin > 0:
                self.context.progress((time.monotonic() - began) / spin, "spinning")
        # A process of the pool has a parent process in multiprocessing's sense; the worker
        # itself has none.
        return Processed(
            {"pid": os.getpid(), "pooled": multiprocessing.parent_process() is not None}
        )


class BrokenHandler(Handler):
    """Fails to build: a process of it never becomes ready."""

    def __init__(self, *args: object) -> None:
        raise RuntimeError("no handler today")
