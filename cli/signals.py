"""Clean stops for long-running commands: SIGTERM behaves as Ctrl-C does."""

from __future__ import annotations

import signal
from collections.abc import Callable
from types import FrameType
from typing import NoReturn

__all__ = ["interrupt_on_sigterm", "until_interrupted"]


def _interrupt(signum: int, frame: FrameType | None) -> NoReturn:
    raise KeyboardInterrupt


def interrupt_on_sigterm() -> None:
    """Turn SIGTERM into KeyboardInterrupt, so ``with`` blocks unwind and stop what they started.

    Installed before anything starts: a SIGTERM during start-up must not orphan a broker.
    """
    signal.signal(signal.SIGTERM, _interrupt)


def until_interrupted(run: Callable[[], object]) -> None:
    """Run ``run`` until Ctrl-C or SIGTERM, then return."""
    try:
        run()
    except KeyboardInterrupt:
        return
