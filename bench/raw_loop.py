"""The raw baseline of one worker: a bare confluent-kafka consume-transform-produce loop,
tuned as far as the bare clients allow, with or without Kafka transactions.

It does a worker's work on an order and nothing else: the same Avro decode, the same
``enrich`` and revenue-window functions, the same encoders, the same output headers; no
result store, no ``event_id`` gate. Its settings, and why each:

- It takes a batch the moment one record is there: ``poll(1.0)`` blocks for the first
  record and returns it as soon as it is in the consumer's queue, then
  ``consume(n, timeout=0)`` takes whatever else is already queued without waiting for
  more. A ``consume(n, timeout=t)`` alone waits until ``n`` records or ``t`` have come:
  at a steady rate that is ``t`` added to every record (50 ms at the batch window
  conveyor's worker had then). Under a backlog the batches are as full as the worker's.
- ``fetch.wait.max.ms`` 5: a fetch is answered as soon as a byte is readable; this only
  bounds the wait of one nothing woke.
- The producer is conveyor's (``acks=all``, idempotent, murmur2, lz4) with ``linger.ms``
  0: the loop waits for each batch's acknowledgement (or commits its transaction) before
  the next, so lingering could only delay the batch it waits for.
- Without transactions (at-least-once): produce the batch, ``flush()`` until every record
  is acknowledged, then commit the batch's offsets asynchronously, so no record's offset
  is committed before its outputs are durable and the next batch does not wait for the
  commit's round trip.
- With transactions (effectively once, as conveyor's outbox publishes): one transaction a
  batch, holding its outputs and its offsets (``send_offsets_to_transaction``), committed
  before the next batch is taken; the input is read ``read_committed``. ``retry.backoff.ms``
  1 doubling up to ``retry.backoff.max.ms`` 5, as conveyor's relay: a transaction begun
  while the coordinator still writes the last one's markers has its ``AddOffsetsToTxn``
  refused (``CONCURRENT_TRANSACTIONS``), and librdkafka retries it after
  ``retry.backoff.ms``, 100 ms by default and doubling up to 1 s, so back-to-back
  transactions paid ~100 ms each.
"""

from __future__ import annotations

import multiprocessing
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any

from confluent_kafka import Consumer, Message, Producer

from conveyor.bench.arrivals import header
from conveyor.config import Settings, StreamDeclaration
from conveyor.kafka.admin import admin_client
from conveyor.kafka.config import producer_config
from conveyor.kafka.identity import child_traceparent, cloudevent_headers
from conveyor.monitoring.groups import has_stable_members
from conveyor.processors.pipeline.orders import enrich, revenue_deltas, revenue_total
from conveyor.schemas import registry_client
from conveyor.schemas.serde import AvroDecoder, AvroEncoder, register_value_schema

__all__ = ["raw_loop"]

_TIMEOUT = 60.0


@contextmanager
def raw_loop(
    settings: Settings, stream: StreamDeclaration, expected: int, *, transactional: bool
) -> Iterator[Callable[[], float]]:
    """The raw loop on ``stream`` in its own process (as the worker is), ready once it holds
    its partitions; the callable waits until it has handled ``expected`` records and
    returns its seconds from its first batch to its last commit."""
    group = f"{stream.topic}.raw"
    with multiprocessing.get_context("spawn").Pool(1) as pool:
        result = pool.apply_async(
            _consume_transform_produce, (settings, stream, group, expected, transactional)
        )
        admin = admin_client(settings.kafka)
        while not has_stable_members(admin, group, 1) and not result.ready():
            time.sleep(0.1)
        yield lambda: float(result.get(timeout=600))


def _consume_transform_produce(
    settings: Settings, stream: StreamDeclaration, group: str, expected: int, transactional: bool
) -> float:
    consumer = Consumer(
        {
            **settings.kafka.librdkafka_config(),
            "group.id": group,
            "auto.offset.reset": "earliest",
            "enable.auto.commit": "false",
            "isolation.level": "read_committed",
            "fetch.wait.max.ms": "5",
        }
    )
    consumer.subscribe([stream.topic])
    transaction = (
        {
            "transactional.id": f"{group}.{uuid.uuid4().hex[:8]}",
            "retry.backoff.ms": "1",
            "retry.backoff.max.ms": "5",
        }
        if transactional
        else {}
    )
    producer = Producer(producer_config(settings.kafka, **{"linger.ms": "0"}, **transaction))
    if transactional:
        producer.init_transactions(_TIMEOUT)
    enriched, revenue = stream.outputs["enriched"], stream.outputs["revenue"]
    more = max(settings.workers.batch_size - 1, 1)
    with registry_client(settings.schema_registry) as registry:
        decode = AvroDecoder(stream.avro_schema, registry).decode
        encode_enriched = AvroEncoder(
            enriched.avro_schema, register_value_schema(registry, enriched)
        ).encode
        encode_revenue = AvroEncoder(
            revenue.avro_schema, register_value_schema(registry, revenue)
        ).encode
        totals: dict[Any, tuple[int, int]] = {}
        done, began = 0, 0.0
        try:
            while done < expected:
                first = consumer.poll(1.0)
                if first is None:
                    continue
                batch = [m for m in (first, *consumer.consume(more, 0)) if m.error() is None]
                began = began or time.perf_counter()
                if transactional:
                    producer.begin_transaction()
                now = datetime.now(UTC)
                enriched_headers = cloudevent_headers(f"/raw/{stream.name}/enriched", "e", now)
                revenue_headers = cloudevent_headers(f"/raw/{stream.name}/revenue", "r", now)
                values = []
                for msg in batch:
                    value = decode(msg.value())
                    values.append(value)
                    out = enrich(value)
                    producer.produce(
                        enriched.topic,
                        key=str(out[enriched.key]).encode(),
                        value=encode_enriched(out),
                        headers=enriched_headers(
                            out["event_id"], child_traceparent(header(msg, "traceparent"))
                        ),
                    )
                for key, (cents, count) in revenue_deltas(values).items():
                    old = totals.get(key, (0, 0))
                    totals[key] = (old[0] + cents, old[1] + count)
                    total = revenue_total(key, *totals[key])
                    producer.produce(
                        revenue.topic,
                        key=total["window"].encode(),
                        value=encode_revenue(total),
                        headers=revenue_headers(
                            f"{total['window']}#{total['orders']}", child_traceparent(None)
                        ),
                    )
                _settle(consumer, producer, batch, transactional=transactional)
                done += len(batch)
            return time.perf_counter() - began
        finally:
            consumer.close()


def _settle(
    consumer: Consumer, producer: Producer, batch: list[Message], *, transactional: bool
) -> None:
    """The batch's outputs durable and its offsets committed, as the module says."""
    if transactional:
        producer.send_offsets_to_transaction(
            consumer.position(consumer.assignment()),
            consumer.consumer_group_metadata(),
            _TIMEOUT,
        )
        producer.commit_transaction(_TIMEOUT)
        return
    if producer.flush(_TIMEOUT):
        raise RuntimeError("the raw loop's producer did not deliver a batch")
    if batch:
        consumer.commit(asynchronous=True)
