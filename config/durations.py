"""Durations as people write them in ``streams.yaml``: ``500ms``, ``45s``, ``10m``, ``7d``."""

from __future__ import annotations

import re
from typing import Annotated, Any

from pydantic import BeforeValidator

__all__ = ["Duration", "duration_label", "duration_ms"]

_DURATION = re.compile(r"^\s*(\d+)\s*(ms|s|m|h|d)\s*$")
_MILLISECONDS = {"ms": 1, "s": 1000, "m": 60_000, "h": 3_600_000, "d": 86_400_000}


def duration_ms(
    value: Any, what: str = "duration", examples: str = "500ms, 45s, 10m, 12h or 7d"
) -> Any:
    """``value`` in milliseconds if it is a duration's text; anything else as it is (a
    bare number is taken as milliseconds already, and pydantic checks the rest)."""
    if isinstance(value, str):
        match = _DURATION.match(value)
        if match is None:
            raise ValueError(f"{what} {value!r}: expected e.g. {examples}")
        return int(match[1]) * _MILLISECONDS[match[2]]
    return value


def duration_label(milliseconds: int) -> str:
    """The shortest way to write ``milliseconds`` in whole units: 60000 → ``1m``."""
    for unit in ("d", "h", "m", "s"):
        size = _MILLISECONDS[unit]
        if milliseconds and milliseconds % size == 0:
            return f"{milliseconds // size}{unit}"
    return f"{milliseconds}ms"


# Milliseconds, written as a duration's text or a number of milliseconds.
Duration = Annotated[int, BeforeValidator(duration_ms)]
