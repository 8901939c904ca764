"""``conveyor topics apply`` against the real broker: what it creates, shows and refuses."""

from __future__ import annotations

import json
import os
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from confluent_kafka.admin import AdminClient, ConfigResource, ResourceType

from conveyor.config import Settings
from support.cli import conveyor

DAY_MS = 86_400_000


class Declared:
    """A test's own streams in a config file, and the environment that points at it."""

    def __init__(self, settings: Settings, directory: Path, prefix: str) -> None:
        self.prefix = prefix
        self.path = directory / "conveyor.yaml"
        self.env = {
            **os.environ,
            "KAFKA_BOOTSTRAP_SERVERS": settings.kafka.bootstrap_servers,
            "SCHEMA_REGISTRY_URL": settings.schema_registry.url,
            "CONVEYOR_CONFIG": str(self.path),
        }
        self.admin = AdminClient({"bootstrap.servers": settings.kafka.bootstrap_servers})

    def declare(self, partitions: int = 4, retention: str = "3d", **orders: Any) -> None:
        """An ``orders`` stream with two outputs (one compacted) and a relaxed
        ``notifications`` stream (retry tiers), all on this test's topics."""
        streams = {
            "orders": {
                "schema": "orders.avsc",
                "key": "customer_id",
                "topic": self.prefix,
                "partitions": partitions,
                "retention": retention,
                "replication_factor": 1,
                "min_insync_replicas": 1,
                "outputs": {
                    "enriched": {
                        "topic": f"{self.prefix}.enriched",
                        "schema": "orders_enriched.avsc",
                        "key": "customer_id",
                        "retention": "1d",
                    },
                    "revenue": {
                        "topic": f"{self.prefix}.revenue",
                        "schema": "revenue_per_minute.avsc",
                        "key": "window",
                        "compacted": True,
                    },
                },
                **orders,
            },
            "notifications": {
                "schema": "notifications.avsc",
                "key": "recipient",
                "topic": f"{self.prefix}-mail",
                "partitions": 2,
                "ordering": "relaxed",
                "retry": {"attempts": 3},
            },
        }
        self.path.write_text(json.dumps({"streams": streams}))

    def apply(self, *args: str) -> Any:
        return conveyor("topics", "apply", *args, env=self.env, timeout=120)

    def topic(self, name: str) -> tuple[int, dict[str, str]]:
        """The partition count and the configs of ``name`` as the broker has them."""
        partitions = len(self.admin.list_topics(name, timeout=10).topics[name].partitions)
        resource = ConfigResource(ResourceType.TOPIC, name)
        entries = self.admin.describe_configs([resource])[resource].result(30)
        return partitions, {k: e.value for k, e in entries.items()}


def topics(output: str) -> dict[str, Any]:
    """The topics of a ``--json`` plan, by name."""
    return {t["topic"]: t for t in json.loads(output)["topics"]}


@pytest.fixture
def declared(settings: Settings, tmp_path: Path, unique: Callable[[str], str]) -> Declared:
    return Declared(settings, tmp_path, unique("prov"))


def test_apply_creates_every_declared_topic_with_its_configs_and_a_rerun_changes_nothing(
    declared: Declared,
) -> None:
    p = declared.prefix
    declared.declare()

    first = declared.apply()

    assert first.returncode == 0, first.stderr
    for topic in (p, f"{p}.enriched", f"{p}.revenue", f"{p}.dlq"):
        assert f"+ {topic} " in first.stdout
    partitions, config = declared.topic(p)
    assert partitions == 4
    assert config["retention.ms"] == str(3 * DAY_MS)
    assert config["cleanup.policy"] == "delete"
    assert config["min.insync.replicas"] == "1"
    assert declared.topic(f"{p}.dlq") == (4, config)
    assert declared.topic(f"{p}.enriched")[1]["retention.ms"] == str(DAY_MS)
    assert declared.topic(f"{p}.revenue")[1]["cleanup.policy"] == "compact"
    for tier in (1, 2):
        assert declared.topic(f"{p}-mail.retry.{tier}")[0] == 2
    assert declared.topic(f"{p}-mail.dlq")[0] == 2
    # Each DLQ's redrive ledger: one partition, compacted, kept for ever.
    ledger_partitions, ledger = declared.topic(f"{p}.dlq.redriven")
    assert (ledger_partitions, ledger["cleanup.policy"]) == (1, "compact")
    # Each stream's change feed: its partitions and retention.
    assert declared.topic(f"{p}.status") == (4, config)

    second = declared.apply("--json")

    assert second.returncode == 0, second.stderr
    plan = json.loads(second.stdout)
    ours = [t for t in plan["topics"] if t["topic"].startswith(p)]
    # orders: input, 2 outputs, DLQ, ledger and change feed; notifications: input, 2 tiers,
    # DLQ, ledger and change feed.
    assert len(ours) == 12
    assert {t["action"] for t in ours} == {"unchanged"}
    assert "nothing to change" in second.stderr


def test_a_changed_declaration_shows_its_difference_then_applies_it(declared: Declared) -> None:
    p = declared.prefix
    declared.declare(partitions=4, retention="3d")
    assert declared.apply().returncode == 0
    declared.declare(partitions=6, retention="5d")

    dry = declared.apply("--dry-run")

    assert dry.returncode == 0, dry.stderr
    assert f"~ {p} " in dry.stdout
    assert re.search(r"partitions +4 → 6\n", dry.stdout)
    assert re.search(r"retention.ms +259200000 \(3d\) → 432000000 \(5d\)\n", dry.stdout)
    assert "dry run: nothing changed" in dry.stderr
    assert declared.topic(p)[0] == 4

    applied = declared.apply()

    assert applied.returncode == 0, applied.stderr
    assert re.search(r"partitions +4 → 6\n", applied.stdout)
    assert f"warning: adding partitions to {p}, " in applied.stderr
    assert "ordering by key breaks for existing keys" in applied.stderr
    for topic in (p, f"{p}.dlq"):
        partitions, config = declared.topic(topic)
        assert partitions == 6
        assert config["retention.ms"] == str(5 * DAY_MS)
    assert declared.topic(f"{p}.enriched")[0] == 6
    assert declared.topic(f"{p}.enriched")[1]["retention.ms"] == str(DAY_MS)
    assert topics(declared.apply("--json").stdout)[p]["action"] == "unchanged"


def test_a_shorter_retention_is_refused_without_force_and_made_with_it(
    declared: Declared,
) -> None:
    p = declared.prefix
    declared.declare(retention="3d")
    assert declared.apply().returncode == 0
    declared.declare(retention="1d")

    refused = declared.apply()

    assert refused.returncode == 1
    assert "needs --force: records older than 1d are deleted" in refused.stdout
    assert refused.stderr.splitlines()[-1].startswith(
        f"Error: nothing changed: {p} retention.ms 259200000 (3d) → 86400000 (1d): needs --force"
    )
    assert declared.topic(p)[1]["retention.ms"] == str(3 * DAY_MS)

    forced = declared.apply("--force")

    assert forced.returncode == 0, forced.stderr
    assert declared.topic(p)[1]["retention.ms"] == str(DAY_MS)
    assert declared.topic(f"{p}.dlq")[1]["retention.ms"] == str(DAY_MS)


def test_fewer_partitions_are_refused_even_with_force_and_nothing_else_changes(
    declared: Declared,
) -> None:
    p = declared.prefix
    declared.declare(partitions=4, retention="3d")
    assert declared.apply().returncode == 0
    declared.declare(partitions=2, retention="5d")

    result = declared.apply("--force", "--json")

    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    assert "Kafka cannot remove partitions: declare 4 or more" in result.stderr
    assert "warning: adding partitions" not in result.stderr
    (error,) = [line for line in result.stderr.splitlines() if line.startswith("Error:")]
    assert error.startswith(f"Error: nothing changed: {p} partitions 4 → 2: Kafka cannot remove")
    changes = topics(result.stdout)[p]["changes"]
    assert {c["setting"]: c["verdict"] for c in changes} == {
        "partitions": "impossible",
        "retention.ms": "apply",
    }
    assert declared.topic(p)[0] == 4
    assert declared.topic(p)[1]["retention.ms"] == str(3 * DAY_MS)
