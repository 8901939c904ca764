"""Small readers of broker state that several tests use."""

from __future__ import annotations

from confluent_kafka import Consumer, TopicPartition


def end_offsets(bootstrap_servers: str, topic: str) -> dict[int, int]:
    """The high watermark of every partition of ``topic``."""
    consumer = Consumer({"bootstrap.servers": bootstrap_servers, "group.id": "watermarks"})
    try:
        partitions = consumer.list_topics(topic, timeout=10).topics[topic].partitions
        return {
            p: consumer.get_watermark_offsets(TopicPartition(topic, p), timeout=10)[1]
            for p in partitions
        }
    finally:
        consumer.close()
