"""Planning topic changes: what is created, grown, changed, refused, and left alone."""

from __future__ import annotations

from conveyor.config import load_streams
from conveyor.kafka.topics import OUTBOX_TOPIC
from conveyor.ops.topic_plan import (
    Change,
    TopicPlan,
    TopicSpec,
    TopicState,
    plan_topics,
    readable,
)
from conveyor.ops.topics import stream_topics

WEEK = str(7 * 86_400_000)
DAY = str(86_400_000)


def spec(partitions: int = 6, replication_factor: int | None = None, **config: str) -> TopicSpec:
    return TopicSpec(
        "orders",
        partitions,
        replication_factor,
        {"cleanup.policy": "delete", **{k.replace("_", "."): v for k, v in config.items()}},
    )


def state(partitions: int = 6, replication_factor: int = 1, **config: str) -> TopicState:
    return TopicState(
        partitions,
        replication_factor,
        {
            "cleanup.policy": "delete",
            "retention.ms": WEEK,
            "min.insync.replicas": "1",
            **{k.replace("_", "."): v for k, v in config.items()},
        },
    )


def changes(plan: TopicPlan) -> list[Change]:
    (topic,) = plan.topics
    return list(topic.changes)


def test_a_missing_topic_is_created_with_everything_it_declares() -> None:
    plan = plan_topics([spec(replication_factor=3, retention_ms=DAY)], {})

    assert plan.topics[0].action == "create"
    assert plan.creations == [spec(replication_factor=3, retention_ms=DAY)]
    assert [(c.setting, c.current, c.wanted) for c in changes(plan)] == [
        ("partitions", None, "6"),
        ("replication.factor", None, "3"),
        ("cleanup.policy", None, "delete"),
        ("retention.ms", None, DAY),
    ]
    assert plan.refused(force=False) == []


def test_a_topic_as_declared_is_unchanged() -> None:
    plan = plan_topics([spec(retention_ms=WEEK, min_insync_replicas="1")], {"orders": state()})

    assert plan.topics[0].action == "unchanged"
    assert not plan.has_changes


def test_what_a_declaration_leaves_to_the_broker_is_left_alone() -> None:
    custom = state(replication_factor=3, retention_ms="1000", min_insync_replicas="2")

    plan = plan_topics([spec()], {"orders": custom})

    assert not plan.has_changes


def test_more_partitions_are_added_with_a_warning_that_keys_move() -> None:
    plan = plan_topics([spec(partitions=12)], {"orders": state(partitions=6)})

    (change,) = changes(plan)
    assert (change.setting, change.current, change.wanted) == ("partitions", "6", "12")
    assert change.verdict == "apply"
    assert "moves keys" in change.note
    assert plan.refused(force=False) == []


def test_fewer_partitions_are_impossible_even_with_force() -> None:
    plan = plan_topics([spec(partitions=3)], {"orders": state(partitions=6)})

    (change,) = changes(plan)
    assert change.verdict == "impossible"
    assert "cannot remove partitions" in change.note
    assert plan.refused(force=True) == [("orders", change)]


def test_a_longer_retention_is_applied_and_a_shorter_one_needs_force() -> None:
    longer = plan_topics([spec(retention_ms="-1")], {"orders": state()})
    shorter = plan_topics([spec(retention_ms=DAY)], {"orders": state()})

    assert changes(longer)[0].verdict == "apply"
    (change,) = changes(shorter)
    assert (change.current, change.wanted, change.verdict) == (WEEK, DAY, "force")
    assert change.note == "records older than 1d are deleted"
    assert shorter.refused(force=False) == [("orders", change)]
    assert shorter.refused(force=True) == []


def test_a_finite_retention_after_forever_is_a_reduction() -> None:
    plan = plan_topics([spec(retention_ms=WEEK)], {"orders": state(retention_ms="-1")})

    assert changes(plan)[0].verdict == "force"


def test_fewer_in_sync_replicas_need_force_and_more_than_the_replicas_are_impossible() -> None:
    three = state(replication_factor=3, min_insync_replicas="2")

    fewer = plan_topics([spec(min_insync_replicas="1")], {"orders": three})
    more = plan_topics([spec(min_insync_replicas="3")], {"orders": three})
    too_many = plan_topics([spec(min_insync_replicas="4")], {"orders": three})

    assert changes(fewer)[0].verdict == "force"
    assert changes(more)[0].verdict == "apply"
    assert changes(too_many)[0].verdict == "impossible"
    assert "3 replicas" in changes(too_many)[0].note


def test_another_cleanup_policy_needs_force() -> None:
    plan = plan_topics([spec()], {"orders": state(cleanup_policy="compact")})

    (change,) = changes(plan)
    assert (change.current, change.wanted, change.verdict) == ("compact", "delete", "force")


def test_another_replication_factor_is_impossible() -> None:
    plan = plan_topics([spec(replication_factor=3)], {"orders": state(replication_factor=1)})

    (change,) = changes(plan)
    assert change.verdict == "impossible"
    assert "reassign" in change.note


def test_retention_reads_as_a_duration() -> None:
    assert readable("retention.ms", WEEK) == f"{WEEK} (7d)"
    assert readable("retention.ms", "-1") == "-1 (forever)"
    assert readable("retention.ms", "90000") == "90000 (90s)"
    assert readable("partitions", "6") == "6"
    assert readable("partitions", None) == "-"


def test_every_topic_of_a_stream_gets_its_partitions_replication_and_retention() -> None:
    streams = load_streams()
    declared = {
        name: s.model_copy(update={"replication_factor": 3, "min_insync_replicas": 2})
        for name, s in streams.items()
    }

    specs = {s.name: s for s in stream_topics(declared.values())}

    assert specs[OUTBOX_TOPIC].partitions == 1
    for name in ("orders", "orders.dlq", "orders.enriched"):
        assert specs[name].partitions == 6
        assert specs[name].replication_factor == 3
        assert specs[name].config == {
            "cleanup.policy": "delete",
            "retention.ms": WEEK,
            "min.insync.replicas": "2",
        }
    # A compacted output keeps each key's latest value: no retention by age.
    assert specs["analytics.revenue_per_minute"].config == {
        "cleanup.policy": "compact",
        "min.insync.replicas": "2",
    }
    assert [n for n in specs if n.startswith("notifications.retry.")] == [
        "notifications.retry.1",
        "notifications.retry.2",
        "notifications.retry.3",
    ]
    assert "retention.ms" not in specs["notifications.dlq"].config
