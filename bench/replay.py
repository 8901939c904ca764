"""``conveyor bench replay``: re-publishing a topic beside a raw copy loop, in one run.

Orders are preloaded into a topic (conveyor's producer, as the API writes them).
conveyor's re-publish copies it into a fresh topic of as many partitions, in
transactions that also commit its progress (its clock around the whole call: making its
transactional producer is part of every re-publish); the raw loop, a bare confluent-kafka
``Consumer`` and ``Producer`` with the same fetch and producer settings (``acks=all``,
idempotent, lz4, large batches), copies it into another, partition p to p, flushing
once at the end and keeping no progress, its clock from when its clients are ready to
the last record acknowledged: the ratio is the price of the transactions, the range
bookkeeping and the progress that make a re-publish safe to run twice.
"""

from __future__ import annotations

import statistics
import time
import uuid
from collections.abc import Callable
from contextlib import AbstractContextManager
from datetime import UTC, datetime
from typing import Any

from confluent_kafka import OFFSET_BEGINNING, Consumer, Producer, TopicPartition

from conveyor.bench.services import bench_stream
from conveyor.client.samples import sample_orders
from conveyor.config import Settings, StreamDeclaration
from conveyor.kafka.admin import admin_client
from conveyor.kafka.config import producer_config
from conveyor.ops.republish import BULK_PRODUCER, plan_republish, republish
from conveyor.ops.scan import reader_config
from conveyor.ops.topic_admin import create_topics
from conveyor.ops.topic_plan import TopicSpec
from conveyor.producers.direct import DirectProducer

__all__ = ["bench_replay"]

Note = Callable[[str], None]
# progress(total, label) yields advance(n), as the CLI's progress bar does.
Progress = Callable[[int, str], AbstractContextManager[Callable[[int], None]]]

# Distinct orders to encode; the preload cycles through them (a million order dicts
# would take gigabytes, and a copy does not look inside the records anyway).
_DISTINCT = 10_000


def bench_replay(
    settings: Settings, records: int, note: Note, progress: Progress, rounds: int = 3
) -> dict[str, Any]:
    source = bench_stream(settings, "orders", "replay")
    pool = sample_orders(min(records, _DISTINCT), datetime.now(UTC), seed=13)
    note(f"preloading {records:,} orders into {source.topic}")
    with DirectProducer(settings, source) as producer:
        producer.send([pool[n % len(pool)] for n in range(records)])

    raw_seconds: list[float] = []
    seconds: list[float] = []
    # Interleaved rounds, medians reported: the broker shares this machine's two cores.
    for round_ in range(1, rounds + 1):
        raw_target, target = _targets(settings, source)
        with progress(records, f"round {round_}/{rounds}: raw loop copying") as advance:
            raw_seconds.append(_raw_copy(settings, source.topic, raw_target, records, advance))
        plan = plan_republish(settings.kafka, source.topic, target)
        with progress(plan.to_copy, f"round {round_}/{rounds}: conveyor re-publishing") as advance:
            began = time.perf_counter()
            result = republish(settings.kafka, plan, advance)
            seconds.append(time.perf_counter() - began)
        if result.records != records:
            raise RuntimeError(f"conveyor re-published {result.records} of {records} records")
    raw, ours = statistics.median(raw_seconds), statistics.median(seconds)
    return {
        "records": records,
        "partitions": source.partitions,
        "mapping": "partition" if plan.same_partitions else "key",
        "conveyor_records_per_s": round(records / ours),
        "raw_records_per_s": round(records / raw),
        "replay_ratio": round(raw / ours, 3),
        "conveyor_seconds": round(ours, 2),
        "raw_seconds": round(raw, 2),
        "rounds": rounds,
        "conveyor_rounds": [round(records / s) for s in seconds],
        "raw_rounds": [round(records / s) for s in raw_seconds],
    }


def _targets(settings: Settings, source: StreamDeclaration) -> tuple[str, str]:
    """Two fresh topics shaped as ``source``: for the raw loop, and for conveyor."""
    raw, ours = (
        f"{source.topic}.raw-copy.{uuid.uuid4().hex[:6]}",
        f"{source.topic}.copy.{uuid.uuid4().hex[:6]}",
    )
    create_topics(
        admin_client(settings.kafka),
        [TopicSpec(raw, source.partitions), TopicSpec(ours, source.partitions)],
    )
    return raw, ours


def _raw_copy(
    settings: Settings, source: str, target: str, expected: int, advance: Callable[[int], None]
) -> float:
    """Seconds to copy ``expected`` records from ``source`` to ``target``, partition p to p,
    from the moment its clients are ready (made, and the source's partitions assigned)."""
    consumer = Consumer(reader_config(settings.kafka.librdkafka_config(), f"{target}.raw"))
    producer = Producer(producer_config(settings.kafka, **BULK_PRODUCER))
    try:
        partitions = consumer.list_topics(source, timeout=10).topics[source].partitions
        consumer.assign([TopicPartition(source, p, OFFSET_BEGINNING) for p in partitions])
        began = time.perf_counter()
        copied = 0
        while copied < expected:
            # Never more than are left: consume() returns once it holds as many as asked
            # (or at the timeout), so asking for 10,000 when fewer remain waited out the
            # whole timeout at the end of every copy.
            wanted = min(10_000, expected - copied)
            batch = [m for m in consumer.consume(wanted, timeout=1.0) if m.error() is None]
            for msg in batch:
                while True:
                    try:
                        producer.produce(
                            target,
                            msg.value(),
                            msg.key(),
                            msg.partition() or 0,
                            headers=msg.headers(),
                        )
                        break
                    except BufferError:
                        producer.poll(0.05)
            producer.poll(0)
            copied += len(batch)
            advance(len(batch))
        if producer.flush(120):
            raise RuntimeError("the raw loop's producer did not deliver every record")
        return time.perf_counter() - began
    finally:
        consumer.close()
