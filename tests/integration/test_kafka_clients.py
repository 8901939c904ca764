"""The Kafka version we run works with both client libraries conveyor uses.

confluent-kafka (librdkafka) produces, consumes in a group and commits a transaction;
aiokafka and a Faust worker produce and consume in a group.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import uuid
from collections.abc import Callable
from pathlib import Path

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from confluent_kafka import Consumer, Producer

from support.waiting import wait_for


def consume_values(bootstrap_servers: str, topic: str, expected: int, group: str) -> list[bytes]:
    consumer = Consumer(
        {
            "bootstrap.servers": bootstrap_servers,
            "group.id": group,
            "auto.offset.reset": "earliest",
            "isolation.level": "read_committed",
        }
    )
    consumer.subscribe([topic])
    values: list[bytes] = []
    try:
        wait_for(
            lambda: _poll_into(consumer, values) >= expected,
            timeout=60,
            what=f"{expected} records on {topic}",
        )
        consumer.commit(asynchronous=False)
    finally:
        consumer.close()
    return values


def _poll_into(consumer: Consumer, values: list[bytes]) -> int:
    for msg in consumer.consume(500, timeout=0.5):
        value = msg.value()
        if not msg.error() and value is not None:
            values.append(value)
    return len(values)


def test_confluent_kafka_commits_a_transaction_and_consumes_it_in_a_group(
    bootstrap_servers: str, make_topic: Callable[..., str]
) -> None:
    topic = make_topic("txn")
    producer = Producer(
        {"bootstrap.servers": bootstrap_servers, "transactional.id": f"smoke-{uuid.uuid4()}"}
    )
    producer.init_transactions(30)
    producer.begin_transaction()
    for i in range(10):
        producer.produce(topic, key=str(i), value=f"committed-{i}")
    producer.commit_transaction(30)
    producer.begin_transaction()
    producer.produce(topic, key="x", value="aborted")
    producer.abort_transaction(30)

    values = consume_values(bootstrap_servers, topic, 10, group=f"g-{topic}")

    assert sorted(values) == sorted(f"committed-{i}".encode() for i in range(10))


def test_aiokafka_produces_and_consumes_in_a_group(
    bootstrap_servers: str, make_topic: Callable[..., str]
) -> None:
    topic = make_topic("aio")

    async def scenario() -> list[bytes]:
        producer = AIOKafkaProducer(
            bootstrap_servers=bootstrap_servers, acks="all", enable_idempotence=True
        )
        await producer.start()
        try:
            for i in range(20):
                await producer.send_and_wait(topic, f"aio-{i}".encode(), key=str(i).encode())
        finally:
            await producer.stop()
        consumer = AIOKafkaConsumer(
            topic,
            bootstrap_servers=bootstrap_servers,
            group_id=f"g-{topic}",
            auto_offset_reset="earliest",
        )
        await consumer.start()
        values: list[bytes] = []
        try:
            async with asyncio.timeout(60):
                while len(values) < 20:
                    batches = await consumer.getmany(timeout_ms=1000)
                    values += [m.value for ms in batches.values() for m in ms if m.value]
            await consumer.commit()
        finally:
            await consumer.stop()
        return values

    values = asyncio.run(scenario())

    assert sorted(values) == sorted(f"aio-{i}".encode() for i in range(20))


def test_a_faust_worker_consumes_in_a_group_and_produces(
    bootstrap_servers: str, make_topic: Callable[..., str], tmp_path: Path
) -> None:
    source, sink = make_topic("faust-in"), make_topic("faust-out")
    producer = Producer({"bootstrap.servers": bootstrap_servers})
    for i in range(30):
        producer.produce(source, key=f"k{i % 7}", value=f"v{i}")
    producer.flush(30)
    env = {
        **os.environ,
        "KAFKA_BOOTSTRAP_SERVERS": bootstrap_servers,
        "ECHO_APP_ID": f"echo-{uuid.uuid4().hex[:8]}",
        "ECHO_SOURCE": source,
        "ECHO_SINK": sink,
        "PYTHONPATH": str(Path(__file__).parent),
    }
    with (tmp_path / "worker.log").open("w") as log:
        worker = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "faust",
                "-A",
                "faust_echo_app",
                "--datadir",
                str(tmp_path),
                "worker",
                "--without-web",
                "-l",
                "warn",
            ],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=log,
        )
        try:
            values = consume_values(bootstrap_servers, sink, 30, group=f"g-{sink}")
        finally:
            worker.terminate()
            worker.wait(30)

    assert sorted(values) == sorted(f"v{i}".encode() for i in range(30))
