"""A stream's priority levels: each level its own topic, the higher consumed first."""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, model_validator

__all__ = ["PRIORITY_FIELD", "Priorities"]

# The event field (and, as ``Conveyor-Priority``, the header) the API routes by. It rides
# in no record: the level is the topic the event is on.
PRIORITY_FIELD = "priority"


class Priorities(BaseModel):
    """Levels, highest first. The default level is the stream's own topic (so a stream that
    gains levels keeps its records and readers); every other level is
    ``<topic>.priority.<level>``."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    levels: tuple[Annotated[str, Field(pattern=r"^[a-z][a-z0-9_-]*$")], ...] = Field(min_length=2)
    default: str
    # While a higher level has work, a lower one still takes this share of the worker's
    # time, so a steady stream of urgent work never starves the rest for ever.
    share: float = Field(default=0.1, gt=0, lt=1)

    @model_validator(mode="after")
    def _check_levels(self) -> Priorities:
        if len(set(self.levels)) != len(self.levels):
            raise ValueError(f"priority levels {list(self.levels)} name a level twice")
        if self.default not in self.levels:
            raise ValueError(
                f"default priority {self.default!r} is not one of the levels {list(self.levels)}"
            )
        return self

    def topic(self, stream_topic: str, level: str) -> str:
        """The topic of ``level`` on a stream whose own topic is ``stream_topic``."""
        return stream_topic if level == self.default else f"{stream_topic}.priority.{level}"
