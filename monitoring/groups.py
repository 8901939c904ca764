"""Who is in a consumer group: how ``conveyor up`` and the tests know workers are ready."""

from __future__ import annotations

from confluent_kafka import ConsumerGroupState, KafkaException
from confluent_kafka.admin import AdminClient

__all__ = ["stable_members"]


def stable_members(admin: AdminClient, group: str, timeout: float = 10.0) -> int:
    """Members of ``group`` once it is stable (partitions assigned), else 0."""
    future = admin.describe_consumer_groups([group], request_timeout=timeout)[group]
    try:
        description = future.result(timeout)
    except KafkaException:
        return 0
    return len(description.members) if description.state == ConsumerGroupState.STABLE else 0
