"""A stream's schedules: events it emits into its stream by the clock.

A schedule ticks by a cron expression (in UTC; croniter's optional sixth field is
seconds) or by a fixed interval counted from the Unix epoch, so every worker computes
the same ticks. Its event, validated against the stream's schema when the worker starts,
is sent once per tick.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from croniter import croniter
from pydantic import BaseModel, ConfigDict, Field, model_validator

from conveyor.config.durations import Duration

__all__ = ["Schedule"]

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


class Schedule(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    cron: str | None = None
    every: Duration | None = Field(default=None, gt=0)
    event: dict[str, Any]
    # A level of the stream's priorities; unset, the default level.
    priority: str | None = None
    # Ticks missed while no worker led the group (all stopped, or a leader lost) are fired
    # late if they are at most this old; older ones are skipped, and logged. 0: none.
    catch_up: Duration = Field(default=600_000, ge=0)

    @model_validator(mode="after")
    def _one_clock(self) -> Schedule:
        if (self.cron is None) == (self.every is None):
            raise ValueError("a schedule takes either cron or every")
        if self.cron is not None and not croniter.is_valid(self.cron):
            raise ValueError(f"cron {self.cron!r} is not a cron expression")
        return self

    def ticks(self, after: datetime, until: datetime, limit: int) -> list[datetime]:
        """The ticks ``t`` with ``after < t <= until``, earliest first, at most ``limit``."""
        ticks: list[datetime] = []
        tick = self.next_after(after)
        while tick <= until and len(ticks) < limit:
            ticks.append(tick)
            tick = self.next_after(tick)
        return ticks

    def latest(self, at: datetime) -> datetime:
        """The last tick at or before ``at``."""
        if self.every is not None:
            elapsed = (at - _EPOCH) // timedelta(milliseconds=self.every)
            return _EPOCH + elapsed * timedelta(milliseconds=self.every)
        assert self.cron is not None
        # croniter's get_prev is strictly before; a moment later includes ``at`` itself.
        prev: datetime = croniter(self.cron, at + timedelta(microseconds=1)).get_prev(datetime)
        return prev

    def next_after(self, after: datetime) -> datetime:
        """The first tick after ``after``."""
        if self.every is not None:
            return self.latest(after) + timedelta(milliseconds=self.every)
        assert self.cron is not None
        following: datetime = croniter(self.cron, after).get_next(datetime)
        return following
