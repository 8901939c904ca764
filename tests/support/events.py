"""Sample events as a client posts them, and reading back what landed on a topic."""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from confluent_kafka import Producer

from conveyor.client.samples import json_ready, sample_orders
from conveyor.config import Settings
from conveyor.kafka.config import producer_config
from conveyor.monitoring.topic_reader import TopicReader, read_records
from conveyor.producers.direct import DirectProducer


def orders_json(count: int, seed: int = 1) -> list[dict[str, Any]]:
    start = datetime(2026, 11, 1, 12, 0, tzinfo=UTC)
    return [json_ready(o) for o in sample_orders(count, start, seed=seed)]


def send_poisoned_orders(
    settings: Settings, count: int, seed: int, every: int, garbage: list[bytes]
) -> list[dict[str, Any]]:
    """``count`` orders straight to the orders topic, every ``every``-th one breaking the
    amount rule, then each of ``garbage`` as a record that is not Avro; returns the
    invalid orders."""
    stream = settings.streams["orders"]
    orders = sample_orders(count, datetime(2026, 11, 1, 12, 0, tzinfo=UTC), seed=seed)
    invalid = orders[::every]
    for order in invalid:
        order["amount_cents"] += 1
    with DirectProducer(settings, stream) as direct:
        direct.send(orders)
    producer = Producer(producer_config(settings.kafka))
    for n, value in enumerate(garbage):
        producer.produce(stream.topic, key=f"c-{n:04d}".encode(), value=value)
    assert producer.flush(60) == 0
    return invalid


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


def read_to_end(
    settings: Settings, topic: str, decode: bool = True, timeout: float = 120.0
) -> list[dict[str, Any]]:
    """Every committed record of ``topic`` up to where each partition ends now."""
    records: list[dict[str, Any]] = []
    with TopicReader(settings, topic, decode=decode, until_end=True) as reader:
        deadline = time.monotonic() + timeout
        while not reader.at_end:
            assert time.monotonic() < deadline, (
                f"timed out after {timeout:.0f}s reading {topic} to its end ({len(records)} read)"
            )
            records += reader.poll(0.5)
    return records


def _read(
    settings: Settings,
    topic: str,
    done: Callable[[list[dict[str, Any]], float], bool],
    decode: bool,
) -> list[dict[str, Any]]:
    """Read ``topic`` from the start (``read_committed``) until ``done(records, seconds
    without a new record)``; fails after 30 s without getting there."""
    records = read_records(settings, topic, done, decode=decode, timeout=30)
    assert done(records, float("inf")), (
        f"timed out after 30s waiting for the records of {topic} ({len(records)} read)"
    )
    return records
