"""Small readers of broker state that several tests use."""

from __future__ import annotations

from confluent_kafka import Consumer, KafkaException, TopicPartition

from support.waiting import wait_for


def end_offsets(bootstrap_servers: str, topic: str) -> dict[int, int]:
    """The high watermark of every partition of ``topic``."""
    consumer = Consumer({"bootstrap.servers": bootstrap_servers, "group.id": "watermarks"})

    def read() -> dict[int, int] | None:
        try:
            partitions = consumer.list_topics(topic, timeout=10).topics[topic].partitions
            return {
                p: consumer.get_watermark_offsets(TopicPartition(topic, p), timeout=10)[1]
                for p in partitions
            }
        except KafkaException as exc:
            # Right after a topic is created a broker may not know it leads a partition yet.
            if exc.args[0].retriable() or exc.args[0].name() == "NOT_LEADER_FOR_PARTITION":
                return None
            raise

    try:
        return wait_for(read, timeout=30, what=f"the end offsets of {topic}")
    finally:
        consumer.close()
