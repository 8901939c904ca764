"""Creating the topics the stream declarations call for."""

from __future__ import annotations

import logging
import time
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
    _wait_for_leaders(admin, created)
    return created


def _wait_for_leaders(admin: AdminClient, topics: list[str], timeout: float = 30.0) -> None:
    """Block until every partition of ``topics`` has a leader: a topic is usable only then."""
    deadline = time.monotonic() + timeout
    pending = set(topics)
    while pending:
        metadata = admin.list_topics(timeout=timeout).topics
        pending = {
            t
            for t in pending
            if t not in metadata
            or metadata[t].error is not None
            or any(p.leader < 0 for p in metadata[t].partitions.values())
        }
        if pending and time.monotonic() > deadline:
            raise ProvisioningError(f"topics without leaders after {timeout:.0f}s: {pending}")
        if pending:
            time.sleep(0.1)


def require_topics(admin: AdminClient, topics: list[str]) -> None:
    """Raise unless every topic exists, naming the missing ones and the fix."""
    existing = admin.list_topics(timeout=30).topics
    missing = [t for t in topics if t not in existing]
    if missing:
        raise ProvisioningError(
            f"missing topics: {', '.join(missing)}; create them with `conveyor topics apply`"
        )
