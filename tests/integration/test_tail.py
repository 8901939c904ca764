"""``conveyor tail`` against the real broker and registry: what it prints, and what not."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any

import pytest
from confluent_kafka import Producer

from conveyor.client.samples import json_ready, sample_orders
from conveyor.config import Settings
from conveyor.infra.processes import free_port_block
from conveyor.kafka.config import producer_config
from conveyor.producers.direct import DirectProducer
from support.cli import conveyor

START = datetime(2026, 11, 1, 12, 0, tzinfo=UTC)
POSTED = 30


def environment(settings: Settings) -> dict[str, str]:
    env = {
        **os.environ,
        "KAFKA_BOOTSTRAP_SERVERS": settings.kafka.bootstrap_servers,
        "SCHEMA_REGISTRY_URL": settings.schema_registry.url,
    }
    env.pop("CONVEYOR_CONFIG", None)
    return env


def tail(settings: Settings, *args: str) -> tuple[subprocess.CompletedProcess[str], list[Any]]:
    """Run ``conveyor tail``; its result and its stdout read as JSON lines."""
    result = conveyor("tail", *args, env=environment(settings), timeout=120)
    return result, [json.loads(line) for line in result.stdout.splitlines()]


@pytest.fixture
def posted(stack_settings: Callable[..., Settings]) -> tuple[Settings, list[dict[str, Any]]]:
    """Fresh topics with ``POSTED`` orders on the orders topic, as the API writes them."""
    settings = stack_settings()
    orders = sample_orders(POSTED, START, seed=3)
    with DirectProducer(settings, settings.streams["orders"]) as direct:
        direct.send(orders)
    return settings, [json_ready(o) for o in orders]


def test_tail_prints_exactly_what_was_posted_one_json_object_per_line(
    posted: tuple[Settings, list[dict[str, Any]]],
) -> None:
    settings, orders = posted
    topic = settings.streams["orders"].topic

    result, lines = tail(settings, topic, "--from-beginning", "--max", str(POSTED))

    assert result.returncode == 0, result.stderr
    assert len(lines) == POSTED
    by_id = {line["value"]["event_id"]: line for line in lines}
    assert [by_id[o["event_id"]]["value"] for o in orders] == orders
    assert [by_id[o["event_id"]]["key"] for o in orders] == [o["customer_id"] for o in orders]
    assert len({(line["partition"], line["offset"]) for line in lines}) == POSTED
    assert all(set(line) == {"key", "partition", "offset", "timestamp", "value"} for line in lines)
    assert all(datetime.fromisoformat(line["timestamp"]).tzinfo for line in lines)
    assert f"{POSTED} records" in result.stderr


def test_without_follow_tail_stops_at_the_end_and_by_default_shows_only_new_records(
    posted: tuple[Settings, list[dict[str, Any]]],
) -> None:
    settings, _ = posted
    topic = settings.streams["orders"].topic

    everything, all_lines = tail(settings, topic, "--from-beginning")
    new_only, new_lines = tail(settings, topic)

    assert everything.returncode == 0, everything.stderr
    assert len(all_lines) == POSTED
    assert new_only.returncode == 0, new_only.stderr
    assert new_lines == []


def test_key_and_partition_select_only_their_records(
    posted: tuple[Settings, list[dict[str, Any]]],
) -> None:
    settings, orders = posted
    topic = settings.streams["orders"].topic
    _, everything = tail(settings, topic, "--from-beginning")
    key, count = Counter(o["customer_id"] for o in orders).most_common(1)[0]
    partition = everything[0]["partition"]

    _, by_key = tail(settings, topic, "--from-beginning", "--key", key)
    _, by_partition = tail(settings, topic, "--from-beginning", "--partition", str(partition))

    assert len(by_key) == count
    assert {line["key"] for line in by_key} == {key}
    assert by_partition == [line for line in everything if line["partition"] == partition]
    assert len(by_partition) < POSTED


def test_headers_are_shown_when_asked_for(
    posted: tuple[Settings, list[dict[str, Any]]],
) -> None:
    settings, orders = posted

    _, lines = tail(settings, settings.streams["orders"].topic, "--from-beginning", "--headers")

    assert sorted(line["headers"]["ce_id"] for line in lines) == sorted(
        o["event_id"] for o in orders
    )
    assert all(line["headers"]["content-type"] == "application/avro" for line in lines)


def test_a_record_that_does_not_decode_is_printed_with_an_error_and_the_rest_follow(
    posted: tuple[Settings, list[dict[str, Any]]],
) -> None:
    settings, _ = posted
    topic = settings.streams["orders"].topic
    garbage = Producer(producer_config(settings.kafka))
    garbage.produce(topic, key=b"c-bad", value=b'{"not": "avro"}')
    assert garbage.flush(10) == 0

    result, lines = tail(settings, topic, "--from-beginning")

    assert result.returncode == 0, result.stderr
    assert len(lines) == POSTED + 1
    (bad,) = [line for line in lines if line["key"] == "c-bad"]
    assert bad["value"] is None
    assert bad["error"] == "SerializationError: Invalid magic byte"
    assert bad["raw"] == "eyJub3QiOiAiYXZybyJ9"  # the bytes, base64
    assert all(line["value"] for line in lines if line is not bad)


def test_an_unknown_topic_is_one_readable_error(settings: Settings) -> None:
    result, lines = tail(settings, "no-such-topic-here", "--from-beginning")

    assert result.returncode == 1
    assert lines == []
    assert result.stderr.strip().splitlines()[-1] == (
        "Error: topic 'no-such-topic-here' does not exist "
        "(`conveyor topics apply` creates the declared streams' topics)"
    )
    assert "Traceback" not in result.stderr


def test_a_registry_that_cannot_be_reached_is_one_error_not_a_line_per_record(
    posted: tuple[Settings, list[dict[str, Any]]],
) -> None:
    settings, _ = posted
    topic = settings.streams["orders"].topic
    nowhere = f"http://127.0.0.1:{free_port_block(1)}"
    unreachable = settings.model_copy(
        update={"schema_registry": settings.schema_registry.model_copy(update={"url": nowhere})}
    )

    result, lines = tail(unreachable, topic, "--from-beginning")

    assert result.returncode == 1
    assert lines == []
    assert f"Error: cannot decode {topic}: schema registry {nowhere}: " in result.stderr
    assert "Traceback" not in result.stderr


def test_an_unknown_partition_is_one_readable_error(
    posted: tuple[Settings, list[dict[str, Any]]],
) -> None:
    settings, _ = posted
    topic = settings.streams["orders"].topic

    result, _ = tail(settings, topic, "--partition", "99")

    assert result.returncode == 1
    assert f"Error: topic '{topic}' has partitions 0 to 5, not 99" in result.stderr


def test_follow_prints_records_written_after_it_started_until_max(
    posted: tuple[Settings, list[dict[str, Any]]],
) -> None:
    settings, _ = posted
    stream = settings.streams["orders"]
    later = sample_orders(3, START, seed=4)
    with following(settings, stream.topic, "--max", "3") as proc:
        with DirectProducer(settings, stream) as direct:
            direct.send(later)
        out, err = proc.communicate(timeout=60)

    assert proc.returncode == 0, err
    values = [json.loads(line)["value"] for line in out.splitlines()]
    assert sorted(v["event_id"] for v in values) == sorted(o["event_id"] for o in later)


def test_follow_stops_cleanly_on_ctrl_c(
    posted: tuple[Settings, list[dict[str, Any]]],
) -> None:
    settings, _ = posted
    with following(settings, settings.streams["orders"].topic) as proc:
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=60)

    assert proc.returncode == 0, err
    assert out == ""
    assert "0 records" in err
    assert "Traceback" not in err


@contextmanager
def following(settings: Settings, topic: str, *args: str) -> Iterator[subprocess.Popen[str]]:
    """``conveyor tail TOPIC --follow ...`` as a process, yielded once it is reading."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "conveyor.cli", "tail", topic, "--follow", *args],
        env=environment(settings),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stderr is not None
        first = proc.stderr.readline()  # the note it writes once its partitions are assigned
        assert first.startswith("reading "), first
        yield proc
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(10)
