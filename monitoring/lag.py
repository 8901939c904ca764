"""Consumer lag of groups: per partition, the start, end and committed offsets."""

from __future__ import annotations

import time
from collections.abc import Iterable
from dataclasses import dataclass
from functools import partial

from confluent_kafka import KafkaError, TopicPartition
from confluent_kafka.admin import AdminClient, OffsetSpec

from conveyor.kafka.admin import KafkaAdmin, answer, topic_metadata
from conveyor.kafka.exceptions import KafkaQueryError
from conveyor.monitoring.exceptions import UnknownTopicError

__all__ = ["GroupLag", "PartitionLag", "measure_groups_lag", "measure_lag"]

_UNKNOWN_TOPIC = KafkaError.UNKNOWN_TOPIC_OR_PART
_AGAIN_AFTER = 0.2  # seconds before asking again after a transient refusal


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


# One group's lag by (topic, partition).
GroupLag = dict[tuple[str, int], PartitionLag]


def measure_lag(
    admin: KafkaAdmin, group: str, topics: Iterable[str], timeout: float = 10.0
) -> GroupLag:
    """The lag of ``group`` on every partition of ``topics``."""
    return measure_groups_lag(admin, [group], topics, timeout)[group]


def measure_groups_lag(
    admin: KafkaAdmin, groups: Iterable[str], topics: Iterable[str], timeout: float = 10.0
) -> dict[str, GroupLag]:
    """The lag of each of ``groups`` on every partition of ``topics``, against one reading
    of the partitions' start and end offsets.

    Raises :class:`UnknownTopicError` for a topic the cluster does not have, and
    :class:`KafkaQueryError` if Kafka does not answer within ``timeout``; a transient
    refusal (a partition without a leader yet) is asked again until then.
    """
    groups, topics = list(groups), list(topics)
    deadline = time.monotonic() + timeout
    while True:
        try:
            return _measure(admin, groups, topics, timeout)
        except KafkaQueryError as exc:
            if not exc.transient or time.monotonic() + _AGAIN_AFTER > deadline:
                raise
            time.sleep(_AGAIN_AFTER)


def _measure(
    admin: KafkaAdmin, groups: list[str], topics: list[str], timeout: float
) -> dict[str, GroupLag]:
    partitions = _partitions(admin, topics, timeout)
    if not partitions:
        return {group: {} for group in groups}
    starts = _offsets(admin, partitions, OffsetSpec.earliest(), "start", timeout)
    ends = _offsets(admin, partitions, OffsetSpec.latest(), "end", timeout)
    lag = {}
    for group in groups:
        committed = admin.committed(group, partitions, timeout)
        lag[group] = {
            key: PartitionLag(*key, start=starts[key], end=ends[key], committed=committed.get(key))
            for key in starts
        }
    return lag


def _partitions(admin: AdminClient, topics: Iterable[str], timeout: float) -> list[TopicPartition]:
    metadata = {topic: topic_metadata(admin, topic, timeout) for topic in topics}
    missing = [t for t, m in metadata.items() if m.error and m.error.code() == _UNKNOWN_TOPIC]
    if missing:
        raise UnknownTopicError(missing)
    for topic, m in metadata.items():
        if m.error is not None:
            raise KafkaQueryError(f"metadata of {topic}", m.error.str(), m.error.name(), timeout)
    return [TopicPartition(t, p) for t, m in metadata.items() for p in sorted(m.partitions)]


def _offsets(
    admin: AdminClient,
    partitions: list[TopicPartition],
    spec: OffsetSpec,
    which: str,
    timeout: float,
) -> dict[tuple[str, int], int]:
    futures = admin.list_offsets({tp: spec for tp in partitions}, request_timeout=timeout)
    return {
        (tp.topic, tp.partition): answer(
            partial(futures[tp].result, timeout), f"{which} offsets of {tp.topic}", timeout
        ).offset
        for tp in partitions
    }
