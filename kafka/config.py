"""The librdkafka configuration of every conveyor producer."""

from __future__ import annotations

from conveyor.config import ClientConfig, KafkaSettings

__all__ = ["producer_config"]


def producer_config(kafka: KafkaSettings, **overrides: str) -> ClientConfig:
    """Durable, ordered, Java-compatible producing; ``overrides`` win (librdkafka keys)."""
    return {
        **kafka.librdkafka_config(),
        # Accepted means durable: the write is on every in-sync replica, and the
        # idempotent producer keeps retries from duplicating or reordering it.
        "acks": "all",
        "enable.idempotence": "true",
        # librdkafka's default partitioner (consistent_random, CRC32) puts keys on other
        # partitions than Java clients, Kafka Streams and Faust; murmur2_random is the
        # Java client's murmur2 (null keys go to a random partition).
        "partitioner": "murmur2_random",
        "compression.type": "lz4",
        **overrides,
    }
