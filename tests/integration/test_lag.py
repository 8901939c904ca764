"""``conveyor lag`` against the session's broker: exact lag per partition, tables, plots,
live owners, unknown groups, a clean Ctrl-C and an unreachable cluster."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from confluent_kafka import Consumer, Producer, TopicPartition
from PIL import Image

from conveyor.config import Settings
from conveyor.infra.processes import free_port_block
from support.cli import conveyor, environment
from support.waiting import wait_for

PER_PARTITION = 20  # records produced to each partition
COMMITTED = 7  # where the group committed on the partitions it committed
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


@dataclass(frozen=True)
class Backlog:
    """A topic with ``PER_PARTITION`` records on each of its 3 partitions and a group that
    committed ``COMMITTED`` on partitions 0 and 1, never on 2."""

    topic: str
    group: str
    env: dict[str, str]


@pytest.fixture
def backlog(
    settings: Settings, make_topic: Callable[..., str], unique: Callable[[str], str]
) -> Backlog:
    topic = make_topic("lag", partitions=3)
    producer = Producer(settings.kafka.librdkafka_config())
    for partition in range(3):
        for n in range(PER_PARTITION):
            producer.produce(topic, value=f"{n}".encode(), partition=partition)
    assert producer.flush(30) == 0
    group = unique("lag-group")
    consumer = Consumer(
        {**settings.kafka.librdkafka_config(), "group.id": group, "enable.auto.commit": False}
    )
    try:
        offsets = [TopicPartition(topic, p, COMMITTED) for p in (0, 1)]
        consumer.commit(offsets=offsets, asynchronous=False)
    finally:
        consumer.close()
    env = {**os.environ, "KAFKA_BOOTSTRAP_SERVERS": settings.kafka.bootstrap_servers}
    return Backlog(topic, group, env)


def lag_json(env: dict[str, str], *args: str) -> dict[str, Any]:
    result = conveyor("lag", "--json", *args, env=env, timeout=60)
    assert result.returncode == 0, result.stderr
    document: dict[str, Any] = json.loads(result.stdout)
    return document


def partitions_of(group: dict[str, Any]) -> dict[int, dict[str, Any]]:
    (topic,) = group["topics"]
    return {p["partition"]: p for p in topic["partitions"]}


def test_json_reports_end_minus_committed_per_partition_and_the_total(backlog: Backlog) -> None:
    report = lag_json(backlog.env, "--group", backlog.group, "--topic", backlog.topic)

    (group,) = report["groups"]
    assert group["group"] == backlog.group
    assert group["state"] == "empty"
    partitions = partitions_of(group)
    assert {p: (v["committed"], v["end"], v["lag"]) for p, v in partitions.items()} == {
        0: (COMMITTED, PER_PARTITION, PER_PARTITION - COMMITTED),
        1: (COMMITTED, PER_PARTITION, PER_PARTITION - COMMITTED),
        # Never committed: counted from the start of the partition.
        2: (None, PER_PARTITION, PER_PARTITION),
    }
    expected_total = 2 * (PER_PARTITION - COMMITTED) + PER_PARTITION
    assert group["topics"][0]["lag"] == expected_total
    assert group["lag"] == expected_total


def test_the_table_has_a_row_per_partition_and_the_topics_total(backlog: Backlog) -> None:
    result = conveyor("lag", "-g", backlog.group, "-t", backlog.topic, env=backlog.env)

    assert result.returncode == 0, result.stderr
    rows = [line.split() for line in result.stdout.splitlines()]
    lag = PER_PARTITION - COMMITTED
    assert [f"group {backlog.group}: empty, no members"] == [
        line for line in result.stdout.splitlines() if line.startswith("group ")
    ]
    assert [backlog.topic, "0", str(COMMITTED), str(PER_PARTITION), str(lag), "-"] in rows
    assert [backlog.topic, "1", str(COMMITTED), str(PER_PARTITION), str(lag), "-"] in rows
    assert [backlog.topic, "2", "none", str(PER_PARTITION), str(PER_PARTITION), "-"] in rows
    assert [backlog.topic, "total", str(2 * lag + PER_PARTITION)] in rows


def test_an_unknown_group_is_named_so_and_lags_from_the_start(
    backlog: Backlog, unique: Callable[[str], str]
) -> None:
    stranger = unique("never-seen")

    report = lag_json(backlog.env, "--group", stranger, "--topic", backlog.topic)
    table = conveyor("lag", "--group", stranger, "--topic", backlog.topic, env=backlog.env)

    (group,) = report["groups"]
    assert group["state"] == "unknown"
    assert all(p["committed"] is None for p in partitions_of(group).values())
    assert [p["lag"] for p in partitions_of(group).values()] == [PER_PARTITION] * 3
    assert group["lag"] == 3 * PER_PARTITION
    assert f"group {stranger}: unknown to the cluster" in table.stdout


def test_a_plot_draws_every_sample_into_a_png(backlog: Backlog, tmp_path: Path) -> None:
    out = tmp_path / "lag.png"

    result = conveyor(
        "lag",
        *("--group", backlog.group, "--topic", backlog.topic),
        *("--plot", str(out), "--duration", "2", "--watch", "0.5", "--json"),
        env=backlog.env,
        timeout=60,
    )

    assert result.returncode == 0, result.stderr
    samples = [json.loads(line) for line in result.stdout.splitlines()]
    assert len(samples) > 1
    assert f"wrote {out}: {len(samples)} samples" in result.stderr
    assert out.read_bytes()[:8] == PNG_SIGNATURE
    with Image.open(out) as picture:
        assert picture.info["Description"] == f"{len(samples)} samples"


@pytest.fixture
def live_member(settings: Settings, backlog: Backlog) -> Iterator[str]:
    """A consumer of ``backlog.group`` holding every partition of its topic; its client id."""
    client_id = "lag-test-member"
    consumer = Consumer(
        {
            **settings.kafka.librdkafka_config(),
            "group.id": backlog.group,
            "client.id": client_id,
            "enable.auto.commit": False,
        }
    )
    consumer.subscribe([backlog.topic])
    try:

        def assigned() -> bool:
            consumer.poll(0.2)
            return len(consumer.assignment()) == 3

        wait_for(assigned, timeout=30, what="the member to be assigned every partition")
        yield client_id
    finally:
        consumer.close()


def test_a_live_group_names_the_member_holding_each_partition(
    backlog: Backlog, live_member: str
) -> None:
    def stable() -> dict[str, Any] | None:
        (group,) = lag_json(backlog.env, "-g", backlog.group, "-t", backlog.topic)["groups"]
        return group if group["state"] == "stable" else None

    group = wait_for(stable, timeout=30, what="the group to be stable")

    assert group["members"] == 1
    owners = [p["owner"] for p in partitions_of(group).values()]
    assert [o["client_id"] for o in owners] == [live_member] * 3
    assert all(o["member_id"].startswith(live_member) for o in owners)


def test_by_default_the_workers_group_is_measured_on_every_consumed_stream_topic(
    stack_settings: Callable[..., Settings],
) -> None:
    settings = stack_settings()

    report = lag_json(environment(settings))

    (group,) = report["groups"]
    assert group["group"] == settings.workers.group_id
    assert group["state"] == "unknown"  # no worker ever ran
    declared = [t for s in settings.streams.values() for t in (s.topic, *s.retry_topics)]
    assert [t["topic"] for t in group["topics"]] == declared
    assert len(declared) > len(settings.streams)  # the retry tiers are in


def test_watch_redraws_until_ctrl_c_and_stops_cleanly(backlog: Backlog) -> None:
    command = [sys.executable, "-m", "conveyor.cli", "lag", "--watch", "0.2", "--json"]
    proc = subprocess.Popen(
        [*command, "--group", backlog.group, "--topic", backlog.topic],
        env=backlog.env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        first, second = proc.stdout.readline(), proc.stdout.readline()
    finally:
        proc.send_signal(signal.SIGINT)
        _, stderr = proc.communicate(timeout=30)

    total = 2 * (PER_PARTITION - COMMITTED) + PER_PARTITION
    assert [json.loads(line)["groups"][0]["lag"] for line in (first, second)] == [total, total]
    assert proc.returncode == 0, stderr
    assert "Traceback" not in stderr


def test_an_unreachable_cluster_is_one_line_and_exit_1() -> None:
    nobody = f"127.0.0.1:{free_port_block(1)}"
    env = {**os.environ, "KAFKA_BOOTSTRAP_SERVERS": nobody}

    # The subprocess timeout is the bound: --timeout 2 must end it well before.
    result = conveyor("lag", "--timeout", "2", "-g", "g", "-t", "t", env=env, timeout=30)

    assert result.returncode == 1
    (line,) = result.stderr.splitlines()
    assert line.startswith(f"Error: Kafka at {nobody} gave no topic list within 2s: ")
