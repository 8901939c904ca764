"""What can stop a benchmark from reporting, beyond the failures of the parts it runs."""

from __future__ import annotations

from conveyor.exceptions import ConveyorError

__all__ = ["BenchError"]


class BenchError(ConveyorError):
    """A benchmark's result cannot be written where it was asked to go."""
