"""When to try again: exponential backoff with full jitter, never sooner than Retry-After."""

from __future__ import annotations

import random
from dataclasses import dataclass

__all__ = ["Backoff", "parse_retry_after"]


@dataclass(frozen=True)
class Backoff:
    """Delays of ``base * 2**attempt`` seconds, capped, drawn uniformly below that (full
    jitter, so many clients refused together do not come back together)."""

    base: float = 0.2
    cap: float = 30.0
    max_attempts: int = 10

    def delay(self, attempt: int, retry_after: float | None = None) -> float:
        ceiling = min(self.cap, self.base * 2**attempt)
        jittered = random.uniform(0, ceiling)  # noqa: S311 - jitter, not secrets
        return max(jittered, retry_after or 0.0)


def parse_retry_after(value: str | None) -> float | None:
    """Retry-After in seconds (conveyor sends delta-seconds), or None."""
    if value is None:
        return None
    try:
        return max(float(value), 0.0)
    except ValueError:
        return None
