"""Topics on the cluster, through confluent-kafka's AdminClient: reading what is there,
creating topics, and carrying out a :class:`~conveyor.ops.topic_plan.TopicPlan`."""

from __future__ import annotations

import logging
import time
from collections.abc import Collection, Iterable, Mapping
from concurrent.futures import Future
from typing import Any

from confluent_kafka import KafkaError, KafkaException
from confluent_kafka.admin import (
    AdminClient,
    AlterConfigOpType,
    ConfigEntry,
    ConfigResource,
    NewPartitions,
    NewTopic,
    ResourceType,
)

from conveyor.ops.exceptions import ProvisioningError
from conveyor.ops.topic_plan import (
    MANAGED_CONFIGS,
    PARTITIONS,
    TopicPlan,
    TopicSpec,
    TopicState,
    readable,
)

__all__ = ["apply_plan", "create_topics", "read_topics"]

log = logging.getLogger(__name__)

_TIMEOUT = 30.0


def read_topics(admin: AdminClient, names: Iterable[str]) -> dict[str, TopicState]:
    """The state of those of ``names`` that exist: partitions, replicas, managed configs."""
    try:
        metadata = admin.list_topics(timeout=_TIMEOUT).topics
    except KafkaException as exc:
        error: KafkaError = exc.args[0]
        raise ProvisioningError(
            f"cannot list the cluster's topics: {error.str()}", code=error.name()
        ) from exc
    existing = [n for n in names if n in metadata]
    if not existing:
        return {}
    resources = [ConfigResource(ResourceType.TOPIC, n) for n in existing]
    described = admin.describe_configs(resources, request_timeout=_TIMEOUT)
    states = {}
    for resource, future in described.items():
        topic = resource.name
        entries = _settled(future, "describe the configs of", topic)
        partitions = metadata[topic].partitions.values()
        states[topic] = TopicState(
            partitions=len(partitions),
            replication_factor=max((len(p.replicas) for p in partitions), default=0),
            config={k: entries[k].value for k in MANAGED_CONFIGS if k in entries},
        )
    return states


def create_topics(admin: AdminClient, specs: Collection[TopicSpec]) -> list[str]:
    """Create ``specs`` and wait until every partition has a leader; returns the topics
    created (one another client created meanwhile is left alone)."""
    # replication_factor -1: the broker's default.replication.factor decides (3 on a
    # three-node cluster, 1 on one node).
    wanted = [
        NewTopic(
            s.name,
            num_partitions=s.partitions,
            replication_factor=s.replication_factor or -1,
            config=dict(s.config),
        )
        for s in specs
    ]
    if not wanted:
        return []
    created = []
    for topic, future in admin.create_topics(wanted, request_timeout=_TIMEOUT).items():
        try:
            future.result()
        except KafkaException as exc:
            if exc.args[0].code() == KafkaError.TOPIC_ALREADY_EXISTS:
                continue
            raise _failed("create", topic, exc) from exc
        log.info("created topic topic=%s", topic)
        created.append(topic)
    _wait_until_usable(admin, {s.name: s.partitions for s in specs if s.name in created})
    return created


def apply_plan(admin: AdminClient, plan: TopicPlan, force: bool = False) -> None:
    """Make the plan's changes: refuses, before changing anything, if some cannot be made
    (or, without ``force``, would lose records or weaken a guarantee)."""
    refused = plan.refused(force)
    if refused:
        reasons = "; ".join(
            f"{topic} {c.setting} {readable(c.setting, c.current)} → "
            f"{readable(c.setting, c.wanted)}: "
            + (c.note if c.verdict == "impossible" else f"needs --force ({c.note})")
            for topic, c in refused
        )
        raise ProvisioningError(f"nothing changed: {reasons}")
    create_topics(admin, plan.creations)
    changed = [t for t in plan.topics if t.action == "change"]
    grown = [
        NewPartitions(t.spec.name, int(c.wanted))
        for t in changed
        for c in t.changes
        if c.setting == PARTITIONS
    ]
    if grown:
        _settle_all(admin.create_partitions(grown, request_timeout=_TIMEOUT), "add partitions to")
    altered = [
        ConfigResource(
            ResourceType.TOPIC,
            t.spec.name,
            incremental_configs=[
                ConfigEntry(c.setting, c.wanted, incremental_operation=AlterConfigOpType.SET)
                for c in configs
            ],
        )
        for t in changed
        if (configs := [c for c in t.changes if c.setting in MANAGED_CONFIGS])
    ]
    if altered:
        _settle_all(
            admin.incremental_alter_configs(altered, request_timeout=_TIMEOUT),
            "change the configs of",
        )
    _wait_until_usable(admin, {p.topic: p.new_total_count for p in grown})
    for t in changed:
        log.info("changed topic topic=%s settings=%s", t.spec.name, [c.setting for c in t.changes])


def _settle_all(futures: Mapping[Any, Future[Any]], doing: str) -> None:
    for key, future in futures.items():
        _settled(future, doing, key if isinstance(key, str) else key.name)


def _settled(future: Future[Any], doing: str, topic: str) -> Any:
    try:
        return future.result()
    except KafkaException as exc:
        raise _failed(doing, topic, exc) from exc


def _failed(doing: str, topic: str, exc: KafkaException) -> ProvisioningError:
    error: KafkaError = exc.args[0]
    return ProvisioningError(
        f"cannot {doing} topic {topic}: {error.str()}", topic=topic, code=error.name()
    )


def _wait_until_usable(
    admin: AdminClient, partitions: Mapping[str, int], timeout: float = _TIMEOUT
) -> None:
    """Block until each topic shows its number of ``partitions``, every one with a leader:
    a topic (or a new partition) is usable only then."""
    deadline = time.monotonic() + timeout
    pending = set(partitions)
    while pending:
        metadata = admin.list_topics(timeout=timeout).topics
        pending = {
            t
            for t in pending
            if t not in metadata
            or metadata[t].error is not None
            or len(metadata[t].partitions) < partitions[t]
            or any(p.leader < 0 for p in metadata[t].partitions.values())
        }
        if pending and time.monotonic() > deadline:
            raise ProvisioningError(f"topics without leaders after {timeout:.0f}s: {pending}")
        if pending:
            time.sleep(0.1)
