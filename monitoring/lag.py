"""Consumer lag of a group: per partition, the end offset and the committed offset."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from confluent_kafka import ConsumerGroupTopicPartitions, TopicPartition
from confluent_kafka.admin import AdminClient, OffsetSpec

__all__ = ["PartitionLag", "measure_lag"]


@dataclass(frozen=True, slots=True)
class PartitionLag:
    topic: str
    partition: int
    start: int  # the earliest offset still on the broker
    end: int  # the offset the next record will get
    committed: int | None  # the group's position, None if it never committed

    @property
    def position(self) -> int:
        """Where the group reads next: its commit, or the start if it has none yet."""
        return self.start if self.committed is None else max(self.committed, self.start)

    @property
    def lag(self) -> int:
        return max(self.end - self.position, 0)


def measure_lag(
    admin: AdminClient, group: str, topics: Iterable[str], timeout: float = 10.0
) -> dict[tuple[str, int], PartitionLag]:
    """The lag of ``group`` on every partition of ``topics`` (which must exist)."""
    partitions = [
        TopicPartition(topic, p)
        for topic in topics
        for p in admin.list_topics(topic, timeout=timeout).topics[topic].partitions
    ]
    if not partitions:
        return {}
    ends = admin.list_offsets(
        {tp: OffsetSpec.latest() for tp in partitions}, request_timeout=timeout
    )
    starts = admin.list_offsets(
        {tp: OffsetSpec.earliest() for tp in partitions}, request_timeout=timeout
    )
    request = ConsumerGroupTopicPartitions(group, partitions)
    committed_result = admin.list_consumer_group_offsets([request], request_timeout=timeout)
    committed = {
        (tp.topic, tp.partition): tp.offset
        for tp in committed_result[group].result(timeout).topic_partitions
        if tp.offset >= 0
    }
    return {
        (tp.topic, tp.partition): PartitionLag(
            tp.topic,
            tp.partition,
            start=starts[tp].result(timeout).offset,
            end=ends[tp].result(timeout).offset,
            committed=committed.get((tp.topic, tp.partition)),
        )
        for tp in partitions
    }
