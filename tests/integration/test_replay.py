"""``conveyor replay``: a stopped group reset to a time or offsets, and a range re-published
into another topic, against the real broker (and the real worker where it reprocesses)."""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Callable
from contextlib import AbstractContextManager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from confluent_kafka import Consumer, Producer

from conveyor.config import Settings
from conveyor.infra.services import service_env
from conveyor.kafka.admin import admin_client
from conveyor.kafka.config import producer_config
from conveyor.kafka.identity import KafkaHeaders
from conveyor.monitoring.lag import measure_lag
from conveyor.ops.topics import ensure_topics
from support.cli import conveyor
from support.events import orders_json, read_all
from support.waiting import wait_for
from support.workers import Pipeline, job_statuses, outbox_size, running_workers


def _post(pipeline: Pipeline, orders: list[dict[str, Any]]) -> list[str]:
    response = pipeline.api.post("/v1/streams/orders/events", json=orders)
    assert response.status_code == 202, response.text
    return [r["event_id"] for r in response.json()["events"]]


def _settled(settings: Settings, count: int) -> None:
    def done() -> bool:
        statuses = job_statuses(settings)
        return statuses.get("succeeded", 0) >= count and outbox_size(settings) == 0

    wait_for(done, timeout=120, what=f"{count} orders settled and published")


def _committed(settings: Settings, group: str, topic: str) -> dict[int, int | None]:
    admin = admin_client(settings.kafka)
    return {p: lag.committed for (_, p), lag in measure_lag(admin, group, [topic]).items()}


def _versioned(settings: Settings, directory: Path, group: str) -> Settings:
    """A new version of the pipeline: the orders' outputs on ``.v2`` topics, a fresh
    result store and its own worker group (the outbox relay keeps its progress per group,
    so a fresh store needs a fresh group)."""
    orders = settings.streams["orders"]
    outputs = {
        name: output.model_copy(update={"topic": f"{output.topic}.v2"})
        for name, output in orders.outputs.items()
    }
    directory.mkdir()
    versioned = settings.model_copy(
        update={
            "streams": {
                **settings.streams,
                "orders": orders.model_copy(update={"outputs": outputs}),
            },
            "database_url": f"sqlite:///{directory / 'v2.db'}",
            "data_dir": directory,
            "workers": settings.workers.model_copy(update={"group_id": group}),
        }
    )
    ensure_topics(versioned.kafka, versioned.streams.values())
    return versioned


def test_a_replay_from_time_t_reprocesses_exactly_the_orders_after_t_once_each(
    make_pipeline: Callable[..., AbstractContextManager[Pipeline]],
    unique: Callable[[str], str],
    tmp_path: Path,
) -> None:
    with make_pipeline() as pipeline:
        settings = pipeline.settings
        env = service_env(settings, tmp_path / "cli.yaml")
        _post(pipeline, orders_json(300, seed=51))
        _settled(settings, 300)
        t = datetime.now(UTC).isoformat()
        after = _post(pipeline, orders_json(200, seed=52))
        _settled(settings, 500)

        live = conveyor("replay", "orders", "--from-time", t, env=env)

        assert live.returncode == 1
        assert "live member" in live.stderr
        assert "Traceback" not in live.stderr
    workers, topic = settings.workers.group_id, settings.streams["orders"].topic
    wait_for(
        lambda: sum(c or 0 for c in _committed(settings, workers, topic).values()) == 500,
        what="the stopped workers' offsets at the end",
    )
    before = _committed(settings, workers, topic)

    dry = conveyor("replay", "orders", "--from-time", t, "--dry-run", "--json", env=env)

    assert dry.returncode == 0, dry.stderr
    assert json.loads(dry.stdout)["again"] == 200
    assert _committed(settings, workers, topic) == before

    # Into a new version of the pipeline: its own group, starting from T.
    group = unique("workers-v2")
    reset = conveyor("replay", "orders", "--group", group, "--from-time", t, "--json", env=env)

    assert reset.returncode == 0, reset.stderr
    moved = json.loads(reset.stdout)["partitions"]
    assert sum(m["end"] - m["new"] for m in moved) == 200
    assert sum(c or 0 for c in _committed(settings, group, topic).values()) == 300

    v2 = _versioned(settings, tmp_path / "v2", group)
    with running_workers(v2, tmp_path / "v2", 1):
        _settled(v2, 200)
        enriched = read_all(v2, v2.streams["orders"].outputs["enriched"].topic)
    assert job_statuses(v2) == {"succeeded": 200}
    assert sorted(r["headers"]["ce_id"].decode() for r in enriched) == sorted(after)


def _group_consumed(settings: Settings, topic: str, group: str, count: int) -> Consumer:
    """A live member of ``group`` that consumed and committed ``count`` records of ``topic``."""
    consumer = Consumer(
        {
            **settings.kafka.librdkafka_config(),
            "group.id": group,
            "auto.offset.reset": "earliest",
            "enable.auto.commit": "false",
        }
    )
    consumer.subscribe([topic])
    seen = [0]

    def all_seen() -> bool:
        seen[0] += sum(m.error() is None for m in consumer.consume(500, timeout=0.5))
        return seen[0] >= count

    wait_for(all_seen, interval=0, what=f"{count} records consumed by {group}")
    consumer.commit(asynchronous=False)
    return consumer


def _produce(settings: Settings, topic: str, count: int) -> None:
    """``count`` records over 40 keys, each with its own headers."""
    producer = Producer(producer_config(settings.kafka))
    for n in range(count):
        headers: KafkaHeaders = [("ce_id", f"id-{n}".encode()), ("seq", str(n).encode())]
        producer.produce(topic, f"value {n}".encode(), f"k-{n % 40:02d}".encode(), headers=headers)
    assert producer.flush(30) == 0


def test_a_reset_is_refused_while_the_group_is_live_and_a_dry_run_changes_nothing(
    settings: Settings, make_topic: Callable[..., str], unique: Callable[[str], str], tmp_path: Path
) -> None:
    topic, group = make_topic("replayed", partitions=3), unique("group")
    _produce(settings, topic, 300)
    env = service_env(settings, tmp_path / "cli.yaml")
    consumer = _group_consumed(settings, topic, group, 300)
    try:
        refused = conveyor("replay", topic, "--group", group, "--to-earliest", env=env)
    finally:
        consumer.close()

    assert refused.returncode == 1
    assert f"consumer group {group} has 1 live member(s)" in refused.stderr
    ends = _committed(settings, group, topic)
    assert sum(c or 0 for c in ends.values()) == 300

    dry = conveyor("replay", topic, "--group", group, "--to-earliest", "--dry-run", env=env)

    assert dry.returncode == 0, dry.stderr
    assert "300 records would be read again, 0 skipped (dry run: nothing changed)" in dry.stdout
    assert _committed(settings, group, topic) == ends

    one = conveyor("replay", topic, "--group", group, "--to-offset", "1:5", "--json", env=env)

    assert one.returncode == 0, one.stderr
    assert _committed(settings, group, topic) == {**ends, 1: 5}
    assert json.loads(one.stdout)["again"] == (ends[1] or 0) - 5


def _by_partition(records: list[dict[str, Any]]) -> dict[int, list[tuple[str, bytes, Any]]]:
    parts: dict[int, list[tuple[str, bytes, Any]]] = defaultdict(list)
    for r in sorted(records, key=lambda r: (r["partition"], r["offset"])):
        parts[r["partition"]].append((r["key"], r["value"], r["headers"]))
    return dict(parts)


def _by_key(records: list[dict[str, Any]]) -> dict[str, list[tuple[bytes, Any]]]:
    keys: dict[str, list[tuple[bytes, Any]]] = defaultdict(list)
    for r in sorted(records, key=lambda r: (r["partition"], r["offset"])):
        keys[r["key"]].append((r["value"], r["headers"]))
    return dict(keys)


def test_a_republish_keeps_each_keys_order_and_headers_and_a_second_run_copies_nothing(
    settings: Settings, make_topic: Callable[..., str], tmp_path: Path
) -> None:
    source = make_topic("source", partitions=6)
    same, fewer = make_topic("copy", partitions=6), make_topic("copy", partitions=4)
    _produce(settings, source, 2_000)
    env = service_env(settings, tmp_path / "cli.yaml")

    first = conveyor("replay", source, "--into", same, "--json", env=env)
    by_key = conveyor("replay", source, "--into", fewer, "--json", env=env)

    assert first.returncode == 0, first.stderr
    assert by_key.returncode == 0, by_key.stderr
    copied, keyed = json.loads(first.stdout), json.loads(by_key.stdout)
    assert (copied["mapping"], copied["records"]) == ("partition", 2_000)
    assert (keyed["mapping"], keyed["records"]) == ("key", 2_000)
    assert "re-publishing" in first.stderr  # the progress bar
    original = read_all(settings, source, idle=1.0, decode=False)
    assert _by_partition(read_all(settings, same, idle=1.0, decode=False)) == _by_partition(
        original
    )
    regrouped = read_all(settings, fewer, idle=1.0, decode=False)
    assert _by_key(regrouped) == _by_key(original)
    assert all(
        len({r["partition"] for r in regrouped if r["key"] == k}) == 1 for k in _by_key(original)
    )

    again = conveyor("replay", source, "--into", same, "--json", env=env)

    assert again.returncode == 0, again.stderr
    second = json.loads(again.stdout)
    assert (second["to_copy"], second["copied_before"]) == (0, 2_000)
    assert "records" not in second
    assert len(read_all(settings, same, idle=1.0, decode=False)) == 2_000
