"""The topics the stream declarations call for, and making the cluster have them.

A stream has its input topic (one per priority level), one topic per output, a
dead-letter topic with the ledger of its redrives, its delay tiers and, when its ordering
is relaxed, its retry tiers. Every topic of a stream but the ledger has as many
partitions as its input unless declared otherwise, so a key keeps its partition number
from input to output, and the stream's replication, ``min.insync.replicas`` and
retention (an output may have its own). One more topic is conveyor's own: the workers'
outbox relay records its progress there (see ``processors/outbox.py``).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable

from confluent_kafka.admin import AdminClient

from conveyor.config import KafkaSettings, StreamDeclaration
from conveyor.kafka.admin import admin_client
from conveyor.kafka.topics import OUTBOX_TOPIC
from conveyor.ops.exceptions import ProvisioningError
from conveyor.ops.topic_admin import create_topics, read_topics
from conveyor.ops.topic_plan import (
    CLEANUP_POLICY,
    MIN_INSYNC_REPLICAS,
    RETENTION_MS,
    TopicPlan,
    TopicSpec,
    plan_topics,
)

__all__ = [
    "TopicSpec",
    "ensure_topics",
    "plan_stream_topics",
    "require_topics",
    "stream_topics",
]

log = logging.getLogger(__name__)


def stream_topics(streams: Iterable[StreamDeclaration]) -> list[TopicSpec]:
    """Every topic the streams call for, and the outbox relay's."""
    specs = [TopicSpec(OUTBOX_TOPIC, 1, config={CLEANUP_POLICY: "delete"})]
    for stream in streams:
        retention = stream.retention_ms
        specs += [_spec(stream, t, retention) for t in stream.level_topics]
        for output in stream.outputs.values():
            if output.compacted:
                # A compacted output keeps each key's latest value, however old.
                specs.append(_spec(stream, output.topic, None, output.partitions, compacted=True))
            else:
                own = retention if output.retention_ms is None else output.retention_ms
                specs.append(_spec(stream, output.topic, own, output.partitions))
        specs += [_spec(stream, t, retention) for t in stream.retry_topics + stream.delay_topics]
        specs.append(_spec(stream, stream.dlq_topic, retention))
        specs.append(_spec(stream, stream.change_feed.topic, retention))
        # Small and kept for ever: one record per dead letter redriven (ops/redrive.py).
        specs.append(_spec(stream, stream.redriven_topic, None, 1, compacted=True))
    unique = {s.name: s for s in specs}
    return list(unique.values())


def _spec(
    stream: StreamDeclaration,
    name: str,
    retention_ms: int | None,
    partitions: int | None = None,
    compacted: bool = False,
) -> TopicSpec:
    """A topic of ``stream``: the stream's partitions unless given, its replication and
    its ``min.insync.replicas``."""
    config = {CLEANUP_POLICY: "compact" if compacted else "delete"}
    if retention_ms is not None:
        config[RETENTION_MS] = str(retention_ms)
    if stream.min_insync_replicas is not None:
        config[MIN_INSYNC_REPLICAS] = str(stream.min_insync_replicas)
    return TopicSpec(name, partitions or stream.partitions, stream.replication_factor, config)


def plan_stream_topics(admin: AdminClient, streams: Iterable[StreamDeclaration]) -> TopicPlan:
    """What it takes to make the cluster's topics match the streams' declarations."""
    specs = stream_topics(streams)
    return plan_topics(specs, read_topics(admin, [s.name for s in specs]))


def ensure_topics(kafka: KafkaSettings, streams: Iterable[StreamDeclaration]) -> list[str]:
    """Create every topic of the streams that is missing; returns the topics created.

    Existing topics are left as they are, even where they differ from their declaration
    (that is ``conveyor topics apply``'s to show and change).
    """
    admin = admin_client(kafka)
    plan = plan_stream_topics(admin, streams)
    for topic in plan.topics:
        if topic.action == "change":
            log.warning(
                "topic differs from its declaration topic=%s settings=%s "
                "(`conveyor topics apply` shows the plan)",
                topic.spec.name,
                ",".join(c.setting for c in topic.changes),
            )
    return create_topics(admin, plan.creations)


def require_topics(admin: AdminClient, topics: list[str]) -> None:
    """Raise unless every topic exists, naming the missing ones and the fix."""
    existing = admin.list_topics(timeout=30).topics
    missing = [t for t in topics if t not in existing]
    if missing:
        raise ProvisioningError(
            f"missing topics: {', '.join(missing)}; create them with `conveyor topics apply`"
        )
