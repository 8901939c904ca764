"""Taking a measurement on a steady beat, for a while or until stopped."""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Iterator
from typing import TypeVar

__all__ = ["every"]

T = TypeVar("T")


def every(
    interval: float,
    measure: Callable[[], T],
    duration: float | None = None,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
) -> Iterator[T]:
    """``measure()`` at once, then every ``interval`` seconds on a fixed beat, for
    ``duration`` seconds (``duration / interval + 1`` samples when measuring is quick) or,
    without one, until the caller stops iterating.

    A measurement slower than the interval skips the beats it overran instead of
    drifting, so the samples stay evenly spaced on the plot's time axis.
    """
    began = clock()
    while True:
        yield measure()
        beat = math.floor((clock() - began) / interval) + 1
        # A hair of slack: 2.0 / 0.5 must allow the beat at exactly 2.0 s.
        if duration is not None and beat * interval > duration + 1e-9:
            return
        sleep(max(began + beat * interval - clock(), 0.0))
