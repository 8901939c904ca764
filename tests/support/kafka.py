"""Small readers of broker state that several tests use."""

from __future__ import annotations

from confluent_kafka import Consumer, KafkaException, TopicCollection, TopicPartition
from confluent_kafka.admin import AdminClient

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


def fully_in_sync(admin: AdminClient) -> bool:
    """Whether every partition of every topic has all its replicas in sync (False while
    the cluster does not answer)."""
    try:
        topics = admin.list_topics(timeout=10).topics
        described = admin.describe_topics(TopicCollection(list(topics)))
        return all(
            len(partition.isr) == len(partition.replicas)
            for future in described.values()
            for partition in future.result(10).partitions
        )
    except (KafkaException, TimeoutError):
        return False
