"""One reading of consumer lag: for each group, its membership and its lag per partition."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from conveyor.kafka.admin import KafkaAdmin
from conveyor.monitoring.groups import Membership, describe_group
from conveyor.monitoring.lag import GroupLag, PartitionLag, measure_groups_lag

__all__ = ["GroupReading", "LagSnapshot", "take_snapshot"]


@dataclass(frozen=True, slots=True)
class GroupReading:
    """A group's membership and its lag on every partition asked about, in topic order."""

    membership: Membership
    lag: GroupLag

    @property
    def group(self) -> str:
        return self.membership.group

    @property
    def topics(self) -> list[str]:
        return list(dict.fromkeys(topic for topic, _ in self.lag))

    def partitions(self, topic: str) -> list[PartitionLag]:
        return [p for (t, _), p in self.lag.items() if t == topic]

    def topic_lag(self, topic: str) -> int:
        return sum(p.lag for p in self.partitions(topic))

    @property
    def total(self) -> int:
        return sum(p.lag for p in self.lag.values())


@dataclass(frozen=True, slots=True)
class LagSnapshot:
    taken_at: datetime
    groups: tuple[GroupReading, ...]


def take_snapshot(
    admin: KafkaAdmin, groups: Sequence[str], topics: Sequence[str], timeout: float
) -> LagSnapshot:
    """Lag of ``groups`` on ``topics`` now; see :func:`measure_groups_lag` for the errors."""
    taken_at = datetime.now(UTC)
    lag = measure_groups_lag(admin, groups, topics, timeout)
    return LagSnapshot(
        taken_at,
        tuple(GroupReading(describe_group(admin, g, timeout), lag[g]) for g in groups),
    )
