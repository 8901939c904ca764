"""Creating the topics the stream declarations call for."""

from __future__ import annotations

import logging
from collections.abc import Iterable

from confluent_kafka import KafkaError, KafkaException
from confluent_kafka.admin import AdminClient, NewTopic

from conveyor.config import KafkaSettings, StreamDeclaration
from conveyor.producers.exceptions import ProvisioningError

__all__ = ["ensure_topics", "require_topics"]

log = logging.getLogger(__name__)


def ensure_topics(kafka: KafkaSettings, streams: Iterable[StreamDeclaration]) -> list[str]:
    """Create each stream's topic if it is missing; returns the topics created."""
    admin = AdminClient(kafka.librdkafka_config())
    # replication_factor -1: the broker's default.replication.factor decides (3 on a
    # three-node cluster, 1 on one node), as does min.insync.replicas.
    wanted = [
        NewTopic(s.topic, num_partitions=s.partitions, replication_factor=-1) for s in streams
    ]
    created = []
    for topic, future in admin.create_topics(wanted, request_timeout=30).items():
        try:
            future.result()
        except KafkaException as exc:
            error = exc.args[0]
            if error.code() == KafkaError.TOPIC_ALREADY_EXISTS:
                continue
            raise ProvisioningError(f"cannot create topic {topic}: {error.str()}") from exc
        log.info("created topic topic=%s", topic)
        created.append(topic)
    return created


def require_topics(admin: AdminClient, topics: list[str]) -> None:
    """Raise unless every topic exists, naming the missing ones and the fix."""
    existing = admin.list_topics(timeout=30).topics
    missing = [t for t in topics if t not in existing]
    if missing:
        raise ProvisioningError(
            f"missing topics: {', '.join(missing)}; create them with `conveyor topics apply`"
        )
