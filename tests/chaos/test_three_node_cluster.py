"""A three-node cluster started by the CLI survives a SIGKILLed broker without losing a write."""

from __future__ import annotations

import threading
from pathlib import Path

from confluent_kafka import (
    Consumer,
    KafkaError,
    KafkaException,
    Message,
    Producer,
    TopicCollection,
)
from confluent_kafka.admin import AdminClient, NewTopic, TopicDescription

from conveyor.config import load_settings
from conveyor.infra.kafka import LocalCluster
from conveyor.infra.kafka.properties import CONTROLLER_PORT_OFFSET
from conveyor.infra.processes import free_port_block
from support.cli import conveyor
from support.processes import processes_mentioning
from support.waiting import wait_for


def test_acks_all_writes_survive_a_killed_broker_and_stop_leaves_no_process(
    tmp_path: Path,
) -> None:
    port = free_port_block(3, offset=CONTROLLER_PORT_OFFSET)
    started = conveyor(
        "broker", "start", "--nodes", "3", "--port", str(port), "--data-dir", str(tmp_path)
    )
    assert started.returncode == 0, started.stderr
    servers = f"127.0.0.1:{port},127.0.0.1:{port + 1},127.0.0.1:{port + 2}"
    assert started.stdout.strip() == f"KAFKA_BOOTSTRAP_SERVERS={servers}"
    try:
        status = conveyor("broker", "status", "--data-dir", str(tmp_path))
        assert status.returncode == 0, status.stdout + status.stderr
        assert status.stdout.count("running   in metadata") == 3

        topic = "durable"
        admin = AdminClient({"bootstrap.servers": servers})
        admin.create_topics([NewTopic(topic, num_partitions=6)])[topic].result(30)
        # Created on the controller first; each broker learns of it a moment later.
        description = wait_for(
            lambda: _described(admin, topic), timeout=30, what=f"{topic} in every broker's metadata"
        )
        assert {len(p.replicas) for p in description.partitions} == {3}

        acked, failed = _produce_while_killing_a_broker(servers, topic, tmp_path, total=6_000)

        assert failed == []
        assert len(acked) == 6_000
        assert _read_all(servers, topic, expected=len(acked)) == acked
        degraded = conveyor("broker", "status", "--data-dir", str(tmp_path))
        assert degraded.returncode == 1
        assert degraded.stdout.count("running   in metadata") == 2
    finally:
        stopped = conveyor("broker", "stop", "--data-dir", str(tmp_path))
    assert stopped.returncode == 0, stopped.stderr
    assert processes_mentioning(tmp_path) == []


def _produce_while_killing_a_broker(
    servers: str, topic: str, data_dir: Path, total: int
) -> tuple[set[str], list[str]]:
    """Produce ``total`` records with acks=all; SIGKILL node 2 once a third are acknowledged."""
    acked: set[str] = set()
    failed: list[str] = []
    third = threading.Event()

    def delivered(err: KafkaError | None, msg: Message) -> None:
        if err is not None:
            failed.append(f"{msg.value()!r}: {err}")
            return
        acked.add(bytes(msg.value() or b"").decode())
        if len(acked) >= total // 3:
            third.set()

    producer = Producer(
        {"bootstrap.servers": servers, "acks": "all", "enable.idempotence": "true", "linger.ms": 5}
    )
    cluster = LocalCluster.recorded(data_dir / "kafka", load_settings().cache_dir)
    for i in range(total):
        producer.produce(topic, key=f"k{i % 97}", value=f"v{i}", on_delivery=delivered)
        producer.poll(0)
        if i == total // 2:
            wait_for(
                lambda: third.is_set() or producer.poll(0.1) < 0,
                timeout=60,
                what="a third of the writes acknowledged",
            )
            cluster.kill(2)
    assert producer.flush(120) == 0
    return acked, failed


def _read_all(servers: str, topic: str, expected: int) -> set[str]:
    consumer = Consumer(
        {
            "bootstrap.servers": servers,
            "group.id": "reader",
            "auto.offset.reset": "earliest",
            "isolation.level": "read_committed",
        }
    )
    consumer.subscribe([topic])
    values: set[str] = set()

    def read() -> bool:
        for msg in consumer.consume(1000, timeout=0.5):
            if not msg.error():
                values.add(bytes(msg.value() or b"").decode())
        return len(values) >= expected

    try:
        wait_for(read, timeout=90, what=f"{expected} records back")
    finally:
        consumer.close()
    return values


def _described(admin: AdminClient, topic: str) -> TopicDescription | None:
    try:
        description: TopicDescription = admin.describe_topics(TopicCollection([topic]))[
            topic
        ].result(30)
    except KafkaException:
        return None
    return description
