"""A topic read as an analytics consumer reads it: ``read_committed``, values decoded
through the schema registry by confluent-kafka's own ``AvroDeserializer``."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from confluent_kafka import OFFSET_BEGINNING, Consumer, TopicPartition
from confluent_kafka.schema_registry.avro import AvroDeserializer
from confluent_kafka.serialization import MessageField, SerializationContext

from conveyor.config import Settings
from conveyor.schemas import registry_client

__all__ = ["read_records"]

# Given what was read so far and the seconds since the last new record: enough?
Done = Callable[[list[dict[str, Any]], float], bool]


def read_records(
    settings: Settings, topic: str, done: Done, decode: bool = True, timeout: float = 30.0
) -> list[dict[str, Any]]:
    """Every partition of ``topic`` from the start until ``done(records, quiet_seconds)``
    or ``timeout``; each record as ``key``, ``partition``, ``offset``, ``headers`` and
    ``value`` (decoded, or the raw bytes with ``decode=False``)."""
    consumer = Consumer(
        {
            **settings.kafka.librdkafka_config(),
            "group.id": "conveyor-reader",  # never committed: assigned, not subscribed
            "isolation.level": "read_committed",
            "enable.auto.commit": "false",
        }
    )
    records: list[dict[str, Any]] = []
    try:
        partitions = consumer.list_topics(topic, timeout=10).topics[topic].partitions
        consumer.assign([TopicPartition(topic, p, OFFSET_BEGINNING) for p in partitions])
        with registry_client(settings.schema_registry) as registry:
            deserialize = AvroDeserializer(registry)
            context = SerializationContext(topic, MessageField.VALUE)
            deadline = time.monotonic() + timeout
            last_new = time.monotonic()
            while not done(records, time.monotonic() - last_new):
                if time.monotonic() > deadline:
                    break
                for msg in consumer.consume(500, timeout=0.2):
                    if msg.error():
                        continue
                    last_new = time.monotonic()
                    records.append(
                        {
                            "key": bytes(msg.key() or b"").decode(errors="replace"),
                            "partition": msg.partition(),
                            "offset": msg.offset(),
                            "headers": dict(msg.headers() or []),
                            "value": deserialize(msg.value(), context) if decode else msg.value(),
                        }
                    )
    finally:
        consumer.close()
    return records
