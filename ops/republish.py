"""Re-publishing a range of one topic into another: keys, values and headers as they are
(raw bytes, never decoded), in each source partition's order.

Where the records go: when both topics have as many partitions, source partition p goes
to target partition p, so the copy has the source's exact order per partition; otherwise
each record goes by its key through the murmur2 partitioner, as every conveyor producer
writes, which keeps each key's order (records without a key lose their partition order).
The copies carry the time of the copy, not the source's: an old time would let the
target's time-based retention delete history as soon as it lands (``ce_time`` keeps the
event's own time).

Safe to run twice: the copy is made in Kafka transactions (idempotent producer,
``acks=all``), and each transaction also commits, as offsets of the consumer group
``conveyor.republish.<target>`` on the source partitions, how far the copy got. A run
resumes where the committed progress ends and a range already copied copies nothing,
so a crash, a Ctrl-C or a second run never puts a record into the target twice for
``read_committed`` readers. The transactional id is per source and target: a second
copy started beside a running one fences it. A target is filled forward: a range that
starts before the progress resumes at the progress.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import datetime

from confluent_kafka import KafkaException, Message, Producer, TopicPartition

from conveyor.config import KafkaSettings
from conveyor.kafka.admin import KafkaAdmin, admin_client
from conveyor.kafka.config import producer_config
from conveyor.monitoring.lag import measure_lag
from conveyor.ops.exceptions import ReplayError
from conveyor.ops.ranges import PartitionRange, partitions_of, resolve_ranges
from conveyor.ops.scan import RangeReader, reader_config

__all__ = [
    "BULK_PRODUCER",
    "RepublishPlan",
    "RepublishResult",
    "plan_republish",
    "produce_batch",
    "progress_group",
    "republish",
]

log = logging.getLogger(__name__)

_TIMEOUT = 60.0
# A transaction per second or so: each commit costs a round of the transaction
# protocol (tens of ms), and a crash repeats at most this much work.
_COMMIT_SECONDS = 1.0

# librdkafka settings for copying in bulk: big batches that fill before they go.
BULK_PRODUCER = {
    "linger.ms": "50",
    "batch.size": str(2**20),
    "queue.buffering.max.messages": "1000000",
    "queue.buffering.max.kbytes": str(2**20),
}


def progress_group(target: str) -> str:
    """The consumer group whose offsets on a source say how far it was copied into ``target``."""
    return f"conveyor.republish.{target}"


@dataclass(frozen=True)
class RepublishPlan:
    source: str
    target: str
    requested: list[PartitionRange]  # the range asked for
    ranges: list[PartitionRange]  # what is left of it after earlier copies
    target_partitions: int

    @property
    def same_partitions(self) -> bool:
        return self.target_partitions == len(self.requested)

    @property
    def mapping(self) -> str:
        """Where records go, in words."""
        if self.same_partitions:
            return f"partition p to partition p ({self.target_partitions} partitions each)"
        return (
            f"by key with murmur2 ({len(self.requested)} source partitions, "
            f"{self.target_partitions} target partitions)"
        )

    @property
    def to_copy(self) -> int:
        return sum(r.count for r in self.ranges)

    @property
    def copied_before(self) -> int:
        return sum(r.count for r in self.requested) - self.to_copy

    def after(self, copied: dict[int, int]) -> RepublishPlan:
        """This plan without what ``copied`` (source partition → offset reached) covers."""
        ranges = [
            replace(r, start=min(max(r.start, copied.get(r.partition, 0)), r.end))
            for r in self.requested
        ]
        return replace(self, ranges=ranges)


@dataclass(frozen=True)
class RepublishResult:
    records: int
    seconds: float

    @property
    def rate(self) -> float:
        return self.records / max(self.seconds, 1e-9)


def plan_republish(
    kafka: KafkaSettings,
    source: str,
    target: str,
    *,
    since: datetime | None = None,
    until: datetime | None = None,
    from_offset: int | None = None,
    until_offset: int | None = None,
) -> RepublishPlan:
    """What a copy of the range would move, after what earlier copies committed."""
    if source == target:
        raise ReplayError(f"cannot re-publish {source} into itself")
    admin = admin_client(kafka)
    requested = resolve_ranges(
        admin, source, since=since, until=until, from_offset=from_offset, until_offset=until_offset
    )
    try:
        target_partitions = len(partitions_of(admin, target))
    except ReplayError:
        raise ReplayError(
            f"target topic {target} does not exist; create it first (with {len(requested)} "
            f"partitions, as {source} has, to keep each record's partition)"
        ) from None
    plan = RepublishPlan(source, target, requested, requested, target_partitions)
    return plan.after(_copied(admin, plan))


def republish(
    kafka: KafkaSettings, plan: RepublishPlan, advance: Callable[[int], None]
) -> RepublishResult:
    """Copy what ``plan`` names, calling ``advance(offsets)`` as it goes."""
    producer = Producer(
        producer_config(
            kafka,
            **BULK_PRODUCER,
            **{"transactional.id": f"conveyor.republish.{plan.source}.{plan.target}"},
        )
    )
    began = time.perf_counter()
    try:
        # Fences an earlier run of the same copy; its open transaction is aborted first,
        # so the progress read next is what is really in the target.
        producer.init_transactions(_TIMEOUT)
        plan = plan.after(_copied(admin_client(kafka), plan))
        records = _copy(kafka, plan, producer, advance)
    except KafkaException as exc:
        raise ReplayError.from_kafka(
            exc,
            f"re-publishing {plan.source} into {plan.target} stopped (what was committed is "
            "kept; run it again to resume)",
        ) from exc
    return RepublishResult(records, time.perf_counter() - began)


def _copy(
    kafka: KafkaSettings, plan: RepublishPlan, producer: Producer, advance: Callable[[int], None]
) -> int:
    config = reader_config(kafka.librdkafka_config(), progress_group(plan.target))
    records = 0
    with RangeReader(config, plan.ranges) as reader:
        shown = 0
        committed = time.monotonic()
        producer.begin_transaction()
        try:
            for batch in reader.batches():
                produce_batch(producer, plan.target, batch, plan.same_partitions)
                records += len(batch)
                advance(reader.covered - shown)
                shown = reader.covered
                if time.monotonic() - committed >= _COMMIT_SECONDS:
                    _commit(producer, reader, plan.source)
                    producer.begin_transaction()
                    committed = time.monotonic()
            _commit(producer, reader, plan.source)
        except BaseException:
            _abort(producer)
            raise
    log.info("re-published source=%s target=%s records=%d", plan.source, plan.target, records)
    return records


def produce_batch(producer: Producer, topic: str, batch: list[Message], same: bool) -> None:
    """Produce ``batch`` as it is to ``topic``: into each record's own partition number
    (``same``) or by key (-1: the configured partitioner chooses)."""
    produce = producer.produce
    for msg in batch:
        partition = (msg.partition() or 0) if same else -1
        while True:
            try:
                produce(topic, msg.value(), msg.key(), partition, headers=msg.headers())
                break
            except BufferError:
                producer.poll(0.05)  # the local queue is full: let deliveries drain
    producer.poll(0)


def _commit(producer: Producer, reader: RangeReader, source: str) -> None:
    """The records so far and the progress they make, in one transaction."""
    positions = [TopicPartition(source, p, offset) for p, offset in reader.positions.items()]
    producer.send_offsets_to_transaction(
        positions, reader.consumer.consumer_group_metadata(), _TIMEOUT
    )
    producer.commit_transaction(_TIMEOUT)


def _abort(producer: Producer) -> None:
    try:
        producer.abort_transaction(_TIMEOUT)
    except KafkaException as exc:
        # The transaction may never have begun, or be fenced: nothing to undo then.
        log.warning("could not abort the re-publish transaction: %s", exc)


def _copied(admin: KafkaAdmin, plan: RepublishPlan) -> dict[int, int]:
    """How far earlier copies got into the target: source partition → offset."""
    lag = measure_lag(admin, progress_group(plan.target), [plan.source], timeout=_TIMEOUT)
    return {p: part.committed for (_, p), part in lag.items() if part.committed is not None}
