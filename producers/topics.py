"""Creating the topics the stream declarations call for.

A stream has its input topic, one topic per output, a dead-letter topic with the
ledger of its redrives and, when its ordering is relaxed, its retry tiers; every topic
of a stream but the ledger has as many partitions as its input unless declared
otherwise, so a key keeps its partition number from input to output. One more topic
is conveyor's own: the workers' outbox relay records its progress there (see
``processors/outbox.py``).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable
from dataclasses import dataclass, field

from confluent_kafka import KafkaError, KafkaException
from confluent_kafka.admin import AdminClient, NewTopic

from conveyor.config import KafkaSettings, StreamDeclaration
from conveyor.producers.exceptions import ProvisioningError

__all__ = [
    "OUTBOX_TOPIC",
    "TopicSpec",
    "create_topics",
    "ensure_topics",
    "require_topics",
    "stream_topics",
]

log = logging.getLogger(__name__)

# Holds no records: the outbox relay commits its progress as this topic's offset,
# inside the transaction that publishes (Kafka accepts offsets only for real topics).
OUTBOX_TOPIC = "_conveyor-outbox"

_COMPACTED = {"cleanup.policy": "compact"}


@dataclass(frozen=True)
class TopicSpec:
    name: str
    partitions: int
    config: dict[str, str] = field(default_factory=dict)


def stream_topics(streams: Iterable[StreamDeclaration]) -> list[TopicSpec]:
    """Every topic the streams call for, and the outbox relay's."""
    specs = [TopicSpec(OUTBOX_TOPIC, 1)]
    for stream in streams:
        specs.append(TopicSpec(stream.topic, stream.partitions))
        specs += [
            TopicSpec(
                output.topic,
                output.partitions or stream.partitions,
                _COMPACTED if output.compacted else {},
            )
            for output in stream.outputs.values()
        ]
        specs += [TopicSpec(t, stream.partitions) for t in stream.retry_topics]
        specs.append(TopicSpec(stream.dlq_topic, stream.partitions))
        # Small and kept for ever: one record per dead letter redriven (producers/redrive.py).
        specs.append(TopicSpec(stream.redriven_topic, 1, _COMPACTED))
    unique = {spec.name: spec for spec in specs}
    return list(unique.values())


def ensure_topics(kafka: KafkaSettings, streams: Iterable[StreamDeclaration]) -> list[str]:
    """Create every topic of the streams that is missing; returns the topics created."""
    return create_topics(kafka, stream_topics(streams))


def create_topics(kafka: KafkaSettings, specs: Iterable[TopicSpec]) -> list[str]:
    """Create each topic of ``specs`` that is missing and wait for its leaders; returns
    the topics created."""
    admin = AdminClient(kafka.librdkafka_config())
    # replication_factor -1: the broker's default.replication.factor decides (3 on a
    # three-node cluster, 1 on one node), as does min.insync.replicas.
    wanted = [
        NewTopic(s.name, num_partitions=s.partitions, replication_factor=-1, config=s.config)
        for s in specs
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
