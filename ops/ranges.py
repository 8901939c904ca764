"""Offset ranges of a topic's partitions, from times or offsets: what a replay, a
re-publish or a DLQ redrive reads.

A range is ``[start, end)`` on one partition. Times resolve through the broker's
time index (``ListOffsets`` by timestamp: the first record at or after the time);
ends are the last stable offset, so a range never waits on a transaction still open.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from confluent_kafka import IsolationLevel, KafkaException, TopicPartition
from confluent_kafka.admin import AdminClient, OffsetSpec

from conveyor.ops.exceptions import ReplayError

__all__ = ["PartitionRange", "offsets_at", "partitions_of", "resolve_ranges"]

_TIMEOUT = 30.0


@dataclass(frozen=True, slots=True)
class PartitionRange:
    """Offsets ``start`` (included) to ``end`` (excluded) of ``topic[partition]``."""

    topic: str
    partition: int
    start: int
    end: int

    @property
    def count(self) -> int:
        """Offsets in the range (records, bar transaction markers)."""
        return max(self.end - self.start, 0)

    @property
    def where(self) -> str:
        return f"{self.topic}[{self.partition}]"


def partitions_of(admin: AdminClient, topic: str) -> list[int]:
    """The partition numbers of ``topic``, which must exist."""
    try:
        metadata = admin.list_topics(topic, timeout=_TIMEOUT).topics.get(topic)
    except KafkaException as exc:
        raise ReplayError.from_kafka(exc, f"cannot read the metadata of {topic}") from exc
    if metadata is None or metadata.error is not None or not metadata.partitions:
        raise ReplayError(f"topic {topic} does not exist")
    return sorted(metadata.partitions)


def offsets_at(
    admin: AdminClient, topic: str, partitions: list[int], spec: OffsetSpec
) -> dict[int, int]:
    """Each partition's offset for ``spec`` (earliest, latest, or a time), read_committed:
    "latest" is the last stable offset. A time after the last record gives -1."""
    request = {TopicPartition(topic, p): spec for p in partitions}
    try:
        futures = admin.list_offsets(
            request, isolation_level=IsolationLevel.READ_COMMITTED, request_timeout=_TIMEOUT
        )
        return {tp.partition: future.result().offset for tp, future in futures.items()}
    except KafkaException as exc:
        raise ReplayError.from_kafka(exc, f"cannot list the offsets of {topic}") from exc


def resolve_ranges(
    admin: AdminClient,
    topic: str,
    *,
    since: datetime | None = None,
    until: datetime | None = None,
    from_offset: int | None = None,
    until_offset: int | None = None,
) -> list[PartitionRange]:
    """Every partition's range of ``topic``: from ``since`` (or offset ``from_offset`` of
    each partition, else the earliest offset kept) up to ``until`` (or ``until_offset``,
    else the current end), clamped to what each partition holds."""
    partitions = partitions_of(admin, topic)
    earliest = offsets_at(admin, topic, partitions, OffsetSpec.earliest())
    latest = offsets_at(admin, topic, partitions, OffsetSpec.latest())
    starts = _bound(admin, topic, partitions, since, from_offset, latest=latest) or earliest
    ends = _bound(admin, topic, partitions, until, until_offset, latest=latest) or latest
    ranges = []
    for p in partitions:
        start = min(max(starts[p], earliest[p]), latest[p])
        end = min(max(ends[p], start), latest[p])
        ranges.append(PartitionRange(topic, p, start, end))
    return ranges


def _bound(
    admin: AdminClient,
    topic: str,
    partitions: list[int],
    at: datetime | None,
    offset: int | None,
    *,
    latest: dict[int, int],
) -> dict[int, int]:
    """Each partition's offset for a time (past the last record: the end), or ``offset``
    on every partition; empty when neither is given."""
    if at is not None:
        found = offsets_at(
            admin, topic, partitions, OffsetSpec.for_timestamp(int(at.timestamp() * 1000))
        )
        return {p: latest[p] if at_time < 0 else at_time for p, at_time in found.items()}
    return {} if offset is None else dict.fromkeys(partitions, offset)
