"""Sample events as a client posts them, and reading back what landed on a topic."""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from confluent_kafka import Consumer, TopicPartition
from confluent_kafka.schema_registry import SchemaRegistryClient
from confluent_kafka.schema_registry.avro import AvroDeserializer
from confluent_kafka.serialization import MessageField, SerializationContext

from conveyor.config import Settings
from conveyor.producers.samples import json_ready, sample_orders
from support.waiting import wait_for


def orders_json(count: int, seed: int = 1) -> list[dict[str, Any]]:
    start = datetime(2026, 11, 1, 12, 0, tzinfo=UTC)
    return [json_ready(o) for o in sample_orders(count, start, seed=seed)]


def read_topic(settings: Settings, topic: str, expected: int) -> list[dict[str, Any]]:
    """The records of ``topic``, decoded by confluent-kafka's own AvroDeserializer, once
    there are at least ``expected`` of them."""
    return _read(settings, topic, lambda records, _quiet: len(records) >= expected, decode=True)


def read_all(
    settings: Settings, topic: str, idle: float = 3.0, decode: bool = True
) -> list[dict[str, Any]]:
    """Every committed record of ``topic``: read until nothing new came for ``idle`` seconds.
    Values are decoded through the registry, or left as bytes (``decode=False``)."""
    return _read(settings, topic, lambda _records, quiet: quiet >= idle, decode)


def _read(
    settings: Settings,
    topic: str,
    done: Callable[[list[dict[str, Any]], float], bool],
    decode: bool,
) -> list[dict[str, Any]]:
    """Read ``topic`` from the start (``read_committed``) until ``done(records, seconds
    without a new record)``; fails after 30 s without getting there."""
    consumer = Consumer(
        {
            "bootstrap.servers": settings.kafka.bootstrap_servers,
            "group.id": "reader",
            "isolation.level": "read_committed",
        }
    )
    metadata = consumer.list_topics(topic, timeout=10).topics[topic]
    consumer.assign([TopicPartition(topic, p, 0) for p in metadata.partitions])
    records: list[dict[str, Any]] = []
    last_new = time.monotonic()
    with SchemaRegistryClient({"url": settings.schema_registry.url}) as registry:
        deserialize = AvroDeserializer(registry)
        context = SerializationContext(topic, MessageField.VALUE)

        def poll() -> bool:
            nonlocal last_new
            for msg in consumer.consume(500, timeout=0.5):
                if msg.error():
                    continue
                last_new = time.monotonic()
                records.append(
                    {
                        "key": bytes(msg.key() or b"").decode(),
                        "partition": msg.partition(),
                        "offset": msg.offset(),
                        "headers": dict(msg.headers() or []),
                        "value": deserialize(msg.value(), context) if decode else msg.value(),
                    }
                )
            return done(records, time.monotonic() - last_new)

        try:
            wait_for(poll, timeout=30, interval=0, what=f"the records of {topic}")
        finally:
            consumer.close()
    return records
