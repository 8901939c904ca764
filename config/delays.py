"""A stream's delay tiers: where an event waits until its ``not_before``.

An event due in ``r`` waits on the longest tier no longer than ``r`` (the shortest if
``r`` is shorter than all of them). A tier holds each record at most its own length
from the moment it landed, then the worker processes it if it is due or moves it to the
tier its remaining wait calls for. Records land on a tier in time order and all wait
the same length there, so the one at the head is always the next to leave: a long wait
never holds up a short one behind it.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field, model_validator

from conveyor.config.durations import Duration, duration_label

__all__ = ["NOT_BEFORE_FIELD", "DelayTiers"]

# The event field (and, as ``Conveyor-Not-Before``, the header) the API delays by; on the
# record it becomes the ``conveyor.not.before`` header (kafka/headers.py), as on a retry tier.
NOT_BEFORE_FIELD = "not_before"


class DelayTiers(BaseModel):
    """Declared as a list of durations: ``delays: [1s, 10s, 1m, 10m]``."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    tiers: tuple[Duration, ...] = Field(min_length=1)

    @model_validator(mode="before")
    @classmethod
    def _from_list(cls, value: Any) -> Any:
        return {"tiers": value} if isinstance(value, list | tuple) else value

    @model_validator(mode="after")
    def _check_tiers(self) -> DelayTiers:
        if any(tier <= 0 for tier in self.tiers):
            raise ValueError(f"delay tiers must be positive, not {list(self.tiers)}")
        if list(self.tiers) != sorted(set(self.tiers)):
            raise ValueError(
                f"delay tiers must be listed shortest first, each once, not {list(self.tiers)}"
            )
        return self

    def topics(self, stream_topic: str) -> list[str]:
        """``<topic>.delay.<tier>``, shortest first."""
        return [f"{stream_topic}.delay.{duration_label(tier)}" for tier in self.tiers]

    def tier_for(self, remaining_ms: float) -> int:
        """The index of the tier an event due in ``remaining_ms`` waits on."""
        chosen = 0
        for index, tier in enumerate(self.tiers):
            if tier <= remaining_ms:
                chosen = index
        return chosen
