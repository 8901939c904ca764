"""Moving a stopped consumer group's offsets on a topic: to a time, to offsets, or to the
earliest record kept, so that its consumers read that history again.

Kafka lets a group's offsets be altered only while the group has no members (a live
consumer would overwrite them with its next commit), so :func:`require_stopped` checks
first and says who is still in the group; the broker refuses too if one joins meanwhile.
For conveyor's workers a replay into the same result store reprocesses nothing already
final (the ``event_id`` gate): replay into a fresh store and versioned outputs, or a
fresh group, to compute results again (README, "Replaying").
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime

from confluent_kafka import (
    ConsumerGroupState,
    ConsumerGroupTopicPartitions,
    KafkaError,
    KafkaException,
    TopicPartition,
)
from confluent_kafka.admin import AdminClient, OffsetSpec

from conveyor.kafka.admin import GROUP_REQUEST_TIMEOUT, KafkaAdmin
from conveyor.monitoring.lag import measure_lag
from conveyor.ops.exceptions import GroupActiveError, ReplayError
from conveyor.ops.ranges import offsets_at, partitions_of

__all__ = ["OffsetMove", "ResetTo", "plan_reset", "require_stopped", "reset_group"]

log = logging.getLogger(__name__)

_TIMEOUT = 30.0
_LIVE = {
    ConsumerGroupState.STABLE,
    ConsumerGroupState.PREPARING_REBALANCING,
    ConsumerGroupState.COMPLETING_REBALANCING,
}


@dataclass(frozen=True)
class ResetTo:
    """Where to move the group: a time, the earliest offset, one offset for every
    partition, or offsets of some partitions (the others stay where they are)."""

    time: datetime | None = None
    earliest: bool = False
    offset: int | None = None
    offsets: Mapping[int, int] = field(default_factory=dict)

    def __str__(self) -> str:
        if self.time is not None:
            return f"the first record at or after {self.time.isoformat()}"
        if self.earliest:
            return "the earliest record kept"
        if self.offset is not None:
            return f"offset {self.offset}"
        return ", ".join(f"[{p}]@{o}" for p, o in sorted(self.offsets.items()))


@dataclass(frozen=True, slots=True)
class OffsetMove:
    """One partition's committed offset now, the one it will get, and the partition's end."""

    topic: str
    partition: int
    committed: int | None
    new: int
    end: int

    @property
    def again(self) -> int:
        """Records the group had consumed that it will read again."""
        return 0 if self.committed is None else max(min(self.committed, self.end) - self.new, 0)

    @property
    def skipped(self) -> int:
        """Records the group had not consumed yet that it will now pass over."""
        return 0 if self.committed is None else max(self.new - self.committed, 0)

    @property
    def where(self) -> str:
        return f"{self.topic}[{self.partition}]"


def plan_reset(admin: KafkaAdmin, group: str, topic: str, to: ResetTo) -> list[OffsetMove]:
    """Each partition's move; partitions ``to`` leaves alone are not in the plan."""
    partitions = partitions_of(admin, topic)
    try:
        lag = measure_lag(admin, group, [topic], timeout=_TIMEOUT)
    except KafkaException as exc:
        doing = f"cannot read group {group}'s offsets on {topic}"
        raise ReplayError.from_kafka(exc, doing) from exc
    if to.time is not None:
        at = offsets_at(
            admin, topic, partitions, OffsetSpec.for_timestamp(int(to.time.timestamp() * 1000))
        )
    elif to.earliest:
        at = {p: lag[(topic, p)].start for p in partitions}
    elif to.offset is not None:
        at = dict.fromkeys(partitions, to.offset)
    else:
        if unknown := sorted(set(to.offsets) - set(partitions)):
            raise ReplayError(f"{topic} has no partition {unknown[0]} (it has {len(partitions)})")
        at = dict(to.offsets)
    moves = []
    for p, wanted in sorted(at.items()):
        part = lag[(topic, p)]
        # A time past the last record is answered with -1: the group goes to the end.
        new = part.end if wanted < 0 else min(max(wanted, part.start), part.end)
        moves.append(OffsetMove(topic, p, part.committed, new, part.end))
    return moves


def require_stopped(admin: AdminClient, group: str) -> None:
    """Raise :class:`GroupActiveError` unless ``group`` has no live members."""
    try:
        description = admin.describe_consumer_groups(
            [group], request_timeout=GROUP_REQUEST_TIMEOUT
        )[group].result(_TIMEOUT)
    except KafkaException as exc:
        if exc.args[0].code() == KafkaError.GROUP_ID_NOT_FOUND:
            return  # never used: nobody to stop
        raise ReplayError.from_kafka(exc, f"cannot describe consumer group {group}") from exc
    except TimeoutError as exc:
        raise ReplayError(
            f"cannot describe consumer group {group}: no answer within {_TIMEOUT:.0f}s",
            code="_TIMED_OUT",
        ) from exc
    if description.state in _LIVE and description.members:
        members = ", ".join(f"{m.client_id}@{m.host}" for m in description.members[:3])
        raise GroupActiveError(
            f"consumer group {group} has {len(description.members)} live member(s) "
            f"({members}); stop its workers first (a killed worker leaves the group after "
            "its session timeout)"
        )


def reset_group(admin: AdminClient, group: str, moves: list[OffsetMove]) -> None:
    """Commit each move's offset for ``group``; the group must be stopped."""
    if not moves:
        return
    require_stopped(admin, group)
    request = ConsumerGroupTopicPartitions(
        group, [TopicPartition(m.topic, m.partition, m.new) for m in moves]
    )
    try:
        result = admin.alter_consumer_group_offsets([request], request_timeout=_TIMEOUT)[
            group
        ].result()
    except KafkaException as exc:
        error = exc.args[0]
        if error.code() in (KafkaError.UNKNOWN_MEMBER_ID, KafkaError.REBALANCE_IN_PROGRESS):
            # A consumer joined between the check and the change.
            raise GroupActiveError(
                f"consumer group {group} became live; nothing was changed"
            ) from exc
        raise ReplayError.from_kafka(exc, f"cannot reset consumer group {group}") from exc
    for tp in result.topic_partitions:
        if tp.error is not None:
            raise ReplayError(
                f"cannot move group {group} on {tp.topic}[{tp.partition}]: {tp.error.str()}",
                code=tp.error.name(),
            )
    for m in moves:
        log.info(
            "group offset reset group=%s at=%s committed=%s new=%d",
            group,
            m.where,
            m.committed,
            m.new,
        )
