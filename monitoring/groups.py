"""Who is in a consumer group: how ``conveyor up`` and the tests know workers are ready."""

from __future__ import annotations

from confluent_kafka import ConsumerGroupState, KafkaException
from confluent_kafka.admin import AdminClient

__all__ = ["has_stable_members"]


def has_stable_members(admin: AdminClient, group: str, count: int, timeout: float = 10.0) -> bool:
    """Whether ``group`` is stable (partitions assigned) with at least ``count`` members."""
    future = admin.describe_consumer_groups([group], request_timeout=timeout)[group]
    try:
        description = future.result(timeout)
    except KafkaException:
        return False
    return description.state == ConsumerGroupState.STABLE and len(description.members) >= count
