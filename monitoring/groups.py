"""Who is in a consumer group: how ``conveyor up`` and the tests know workers are ready,
and which member holds which partition."""

from __future__ import annotations

from dataclasses import dataclass, field

from confluent_kafka import ConsumerGroupState

from conveyor.kafka.admin import KafkaAdmin
from conveyor.kafka.exceptions import KafkaQueryError

__all__ = ["Membership", "Owner", "describe_group", "has_stable_members"]

# What the coordinator says of a group it has no record of: it never joined nor
# committed, or its offsets expired. Consumer-protocol groups (KIP-848) answer with an
# error instead of the DEAD state.
_UNKNOWN = "unknown"
_NOT_FOUND = "GROUP_ID_NOT_FOUND"
_STABLE = ConsumerGroupState.STABLE.name.lower()


@dataclass(frozen=True, slots=True)
class Owner:
    """The member of a live group that holds a partition."""

    member_id: str
    client_id: str
    host: str


@dataclass(frozen=True, slots=True)
class Membership:
    """A group's state (Kafka's, in lower case, or ``unknown``), its members and which
    of them holds each partition."""

    group: str
    state: str
    members: int = 0
    owners: dict[tuple[str, int], Owner] = field(default_factory=dict)

    @property
    def known(self) -> bool:
        return self.state != _UNKNOWN


def has_stable_members(admin: KafkaAdmin, group: str, count: int, timeout: float = 10.0) -> bool:
    """Whether ``group`` is stable (partitions assigned) with at least ``count`` members."""
    try:
        membership = describe_group(admin, group, timeout)
    except KafkaQueryError:
        return False
    return membership.state == _STABLE and membership.members >= count


def describe_group(admin: KafkaAdmin, group: str, timeout: float = 10.0) -> Membership:
    """``group``'s state, members and partition owners; raises :class:`KafkaQueryError`
    if Kafka does not answer within ``timeout``."""
    try:
        description = admin.group_description(group, timeout)
    except KafkaQueryError as exc:
        if exc.code == _NOT_FOUND:
            return Membership(group, _UNKNOWN)
        raise
    if description.state == ConsumerGroupState.DEAD:
        return Membership(group, _UNKNOWN)
    return Membership(
        group,
        description.state.name.lower(),
        len(description.members),
        {
            (tp.topic, tp.partition): Owner(member.member_id, member.client_id, member.host)
            for member in description.members
            if member.assignment is not None
            for tp in member.assignment.topic_partitions
        },
    )
