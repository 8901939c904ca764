"""A schedule of faults, each fired once the run has made enough progress.

Progress is the share of the events due to be applied that the workers have settled, so
a fault strikes the workers mid-stream whatever their speed. The schedule runs in its own
thread, one fault after the other; each fault's start and end are kept for the report.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from support.chaos.stack import ChaosStack

__all__ = ["Fault", "FaultSchedule", "FiredFault", "default_schedule", "full_schedule"]

_BROKER_DOWN_SECONDS = 5.0


@dataclass(frozen=True)
class Fault:
    at: float  # the progress (0 to 1) that sets it off
    name: str
    strike: Callable[[ChaosStack], None]


@dataclass(frozen=True)
class FiredFault:
    name: str
    progress: float
    began: float  # seconds into the run
    ended: float


def _kill_worker(at: float, index: int) -> Fault:
    return Fault(at, f"SIGKILL worker {index + 1}, start it again", lambda s: s.kill_worker(index))


def _bounce_broker(at: float, node: int) -> Fault:
    return Fault(
        at,
        f"SIGKILL broker {node}, {_BROKER_DOWN_SECONDS:.0f} s down, restart",
        lambda s: s.bounce_broker(node, _BROKER_DOWN_SECONDS),
    )


def _restart_api(at: float) -> Fault:
    return Fault(at, "SIGKILL the API, start it again", lambda s: s.restart_api())


def default_schedule() -> list[Fault]:
    """The API killed at about 20%, while the load is going; one worker at about 40%."""
    return [_restart_api(0.20), _kill_worker(0.40, 0)]


def full_schedule() -> list[Fault]:
    """Three worker kills (each after more than 20% more progress), each broker bounced
    in turn, and the API killed with requests in flight and started again."""
    return [
        _kill_worker(0.10, 0),
        _bounce_broker(0.20, 1),
        _kill_worker(0.32, 1),
        _bounce_broker(0.42, 2),
        _restart_api(0.52),
        _kill_worker(0.60, 2),
        _bounce_broker(0.72, 3),
    ]


class FaultSchedule:
    """Fires ``faults`` in order against ``stack`` as ``progress()`` reaches each one."""

    def __init__(
        self, stack: ChaosStack, faults: list[Fault], progress: Callable[[], float], began: float
    ) -> None:
        self._stack = stack
        self._faults = faults
        self._progress = progress
        self._began = began
        self._thread = threading.Thread(target=self._run, name="faults", daemon=True)
        self._error: BaseException | None = None
        self.fired: list[FiredFault] = []

    def start(self) -> None:
        self._thread.start()

    @property
    def done(self) -> bool:
        return not self._thread.is_alive()

    def join(self, timeout: float | None = None) -> None:
        self._thread.join(timeout)
        if self._error is not None:
            raise AssertionError("a fault could not be carried out") from self._error

    def _run(self) -> None:
        try:
            for fault in self._faults:
                while (progress := self._progress()) < fault.at:
                    if self._stack.stopping.wait(0.5):
                        return
                began = time.monotonic() - self._began
                fault.strike(self._stack)
                self.fired.append(
                    FiredFault(fault.name, progress, began, time.monotonic() - self._began)
                )
        except BaseException as exc:
            self._error = exc
