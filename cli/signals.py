"""Clean stops for long-running commands: SIGTERM behaves as Ctrl-C does."""

from __future__ import annotations

import signal
from types import FrameType
from typing import NoReturn

__all__ = ["interrupt_on_sigterm", "wait_for_interrupt"]


def _interrupt(signum: int, frame: FrameType | None) -> NoReturn:
    raise KeyboardInterrupt


def interrupt_on_sigterm() -> None:
    """Turn SIGTERM into KeyboardInterrupt, so ``with`` blocks unwind and stop what they started.

    Installed before anything starts: a SIGTERM during start-up must not orphan a broker.
    """
    signal.signal(signal.SIGTERM, _interrupt)


def wait_for_interrupt() -> None:
    """Sleep until Ctrl-C or SIGTERM, then return."""
    try:
        while True:
            signal.pause()
    except KeyboardInterrupt:
        return
