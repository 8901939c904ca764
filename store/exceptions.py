"""The result store's refusals."""

from __future__ import annotations

from conveyor.exceptions import ConveyorError

__all__ = ["JobNotRunningError", "StoreError"]


class StoreError(ConveyorError):
    """A write the result store refused on purpose."""


class JobNotRunningError(StoreError):
    """A commit point refused: the job is no longer processing (it was cancelled)."""

    def __init__(self, event_id: str) -> None:
        super().__init__(f"job {event_id!r} is no longer processing: its effect is not committed")
        self.event_id = event_id
