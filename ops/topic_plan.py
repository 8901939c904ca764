"""What provisioning would change: the declared topics beside what the cluster has.

Pure logic, no Kafka: :func:`plan_topics` compares each :class:`TopicSpec` with the
topic's :class:`TopicState` and lists the changes, each with a verdict. Only what a
declaration states is compared: a setting left to the broker's default, and any config
conveyor does not manage, stays as the topic has it. Nothing is ever deleted.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Literal

from conveyor.config import FOREVER

__all__ = [
    "CLEANUP_POLICY",
    "MANAGED_CONFIGS",
    "MIN_INSYNC_REPLICAS",
    "PARTITIONS",
    "REPLICATION_FACTOR",
    "RETENTION_MS",
    "Change",
    "TopicChange",
    "TopicPlan",
    "TopicSpec",
    "TopicState",
    "Verdict",
    "plan_topics",
    "readable",
]

PARTITIONS = "partitions"
REPLICATION_FACTOR = "replication.factor"
CLEANUP_POLICY = "cleanup.policy"
RETENTION_MS = "retention.ms"
MIN_INSYNC_REPLICAS = "min.insync.replicas"
# The topic configs a declaration can state; others are left as they are.
MANAGED_CONFIGS = (CLEANUP_POLICY, RETENTION_MS, MIN_INSYNC_REPLICAS)

# apply: safe to make. force: loses records or weakens a guarantee, so it is made only
# when asked for (--force). impossible: Kafka cannot make it, forced or not.
Verdict = Literal["apply", "force", "impossible"]

_KEYS_MOVE = (
    "adding partitions moves keys: a key's new records may land on another partition "
    "than its earlier ones, so ordering by key breaks for existing keys"
)


@dataclass(frozen=True)
class TopicSpec:
    """A topic as the declarations want it."""

    name: str
    partitions: int
    # None: the broker's default.replication.factor decides.
    replication_factor: int | None = None
    # By Kafka's config names; only these are compared with the cluster's.
    config: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class TopicState:
    """A topic as the cluster has it; ``config`` holds the effective values (a topic's
    own or the broker's default) of the managed configs."""

    partitions: int
    replication_factor: int
    config: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Change:
    """One setting of one topic: ``current`` (None for a topic to create) → ``wanted``."""

    setting: str  # PARTITIONS, REPLICATION_FACTOR or a config name
    current: str | None
    wanted: str
    verdict: Verdict = "apply"
    # Why it needs --force or cannot be made, or what to know before it is made.
    note: str = ""


@dataclass(frozen=True)
class TopicChange:
    """Everything that would change on one topic: nothing, its creation, or settings."""

    spec: TopicSpec
    exists: bool
    changes: tuple[Change, ...]

    @property
    def action(self) -> Literal["create", "change", "unchanged"]:
        if not self.exists:
            return "create"
        return "change" if self.changes else "unchanged"


@dataclass(frozen=True)
class TopicPlan:
    """Every declared topic, in declaration order, with what would change on it."""

    topics: tuple[TopicChange, ...]

    @property
    def creations(self) -> list[TopicSpec]:
        return [t.spec for t in self.topics if t.action == "create"]

    @property
    def has_changes(self) -> bool:
        return any(t.action != "unchanged" for t in self.topics)

    def refused(self, force: bool) -> list[tuple[str, Change]]:
        """The changes that will not be made: impossible ones, and with ``force`` off,
        those that lose records or weaken a guarantee."""
        refused: set[Verdict] = {"impossible"} if force else {"impossible", "force"}
        return [(t.spec.name, c) for t in self.topics for c in t.changes if c.verdict in refused]


def plan_topics(wanted: Iterable[TopicSpec], current: Mapping[str, TopicState]) -> TopicPlan:
    """The plan that makes the cluster (``current``: existing topics by name) match ``wanted``."""
    topics = []
    for spec in wanted:
        state = current.get(spec.name)
        if state is None:
            topics.append(TopicChange(spec, exists=False, changes=_creation(spec)))
        else:
            topics.append(TopicChange(spec, exists=True, changes=_differences(spec, state)))
    return TopicPlan(tuple(topics))


def readable(setting: str, value: str | None) -> str:
    """A setting's value for people: retention.ms also as a duration (``604800000 (7d)``)."""
    if value is None:
        return "-"
    if setting == RETENTION_MS:
        return f"{value} ({_duration(int(value))})"
    return value


def _creation(spec: TopicSpec) -> tuple[Change, ...]:
    changes = [Change(PARTITIONS, None, str(spec.partitions))]
    if spec.replication_factor is not None:
        changes.append(Change(REPLICATION_FACTOR, None, str(spec.replication_factor)))
    changes += [Change(name, None, value) for name, value in spec.config.items()]
    return tuple(changes)


def _differences(spec: TopicSpec, state: TopicState) -> tuple[Change, ...]:
    changes = []
    if spec.partitions != state.partitions:
        changes.append(_partitions(state.partitions, spec.partitions))
    if spec.replication_factor is not None and spec.replication_factor != state.replication_factor:
        changes.append(
            Change(
                REPLICATION_FACTOR,
                str(state.replication_factor),
                str(spec.replication_factor),
                "impossible",
                "an existing topic's replication factor changes only by reassigning its "
                "partitions (kafka-reassign-partitions.sh)",
            )
        )
    for name, value in spec.config.items():
        now = state.config.get(name)
        if now != value:
            changes.append(_config(name, now, value, state))
    return tuple(changes)


def _partitions(current: int, wanted: int) -> Change:
    if wanted > current:
        return Change(PARTITIONS, str(current), str(wanted), "apply", _KEYS_MOVE)
    return Change(
        PARTITIONS,
        str(current),
        str(wanted),
        "impossible",
        f"Kafka cannot remove partitions: declare {current} or more, or create a new "
        "topic and replay into it",
    )


def _config(name: str, current: str | None, wanted: str, state: TopicState) -> Change:
    if current is None:
        return Change(name, current, wanted)
    if name == RETENTION_MS:
        if _retention_key(int(wanted)) < _retention_key(int(current)):
            return Change(
                name,
                current,
                wanted,
                "force",
                f"records older than {_duration(int(wanted))} are deleted",
            )
    elif name == MIN_INSYNC_REPLICAS:
        if int(wanted) > state.replication_factor:
            return Change(
                name,
                current,
                wanted,
                "impossible",
                f"the topic has {state.replication_factor} replicas: "
                "every acks=all write would be refused",
            )
        if int(wanted) < int(current):
            return Change(
                name, current, wanted, "force", "fewer replicas must acknowledge each write"
            )
    elif name == CLEANUP_POLICY:
        # Either way records go: compaction keeps only each key's latest, deletion by age.
        return Change(
            name, current, wanted, "force", f"{wanted} removes records {current} would keep"
        )
    return Change(name, current, wanted)


def _retention_key(ms: int) -> float:
    """Retention as a comparable length: FOREVER is longer than any other."""
    return float("inf") if ms == FOREVER else ms


_UNITS = (("d", 86_400_000), ("h", 3_600_000), ("m", 60_000), ("s", 1000))


def _duration(ms: int) -> str:
    """``604800000`` → ``7d``; ``-1`` → ``forever``; whole units only, else ``ms``."""
    if ms == FOREVER:
        return "forever"
    for unit, size in _UNITS:
        if ms % size == 0:
            return f"{ms // size}{unit}"
    return f"{ms}ms"
