"""Sample events as a client posts them, and reading back what landed on a topic."""

from __future__ import annotations

import time
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
    """Every record of ``topic``, decoded by confluent-kafka's own AvroDeserializer."""
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
    with SchemaRegistryClient({"url": settings.schema_registry.url}) as registry:
        deserialize = AvroDeserializer(registry)
        context = SerializationContext(topic, MessageField.VALUE)

        def poll() -> bool:
            for msg in consumer.consume(500, timeout=0.5):
                if msg.error():
                    continue
                records.append(
                    {
                        "key": bytes(msg.key() or b"").decode(),
                        "partition": msg.partition(),
                        "offset": msg.offset(),
                        "headers": dict(msg.headers() or []),
                        "value": deserialize(msg.value(), context),
                    }
                )
            return len(records) >= expected

        try:
            wait_for(poll, timeout=30, what=f"{expected} records on {topic}")
        finally:
            consumer.close()
    return records


def read_all(
    settings: Settings, topic: str, idle: float = 3.0, decode: bool = True
) -> list[dict[str, Any]]:
    """Every committed record of ``topic``: read until nothing new came for ``idle`` seconds.
    Values are decoded through the registry, or left as bytes (``decode=False``)."""
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
    with SchemaRegistryClient({"url": settings.schema_registry.url}) as registry:
        deserialize = AvroDeserializer(registry)
        context = SerializationContext(topic, MessageField.VALUE)
        quiet_since = time.monotonic()
        try:
            while time.monotonic() - quiet_since < idle:
                for msg in consumer.consume(500, timeout=0.5):
                    if msg.error():
                        continue
                    quiet_since = time.monotonic()
                    records.append(
                        {
                            "key": bytes(msg.key() or b"").decode(),
                            "partition": msg.partition(),
                            "offset": msg.offset(),
                            "headers": dict(msg.headers() or []),
                            "value": deserialize(msg.value(), context) if decode else msg.value(),
                        }
                    )
        finally:
            consumer.close()
    return records
