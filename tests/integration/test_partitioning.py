"""Keys land where Kafka's Java client puts them: murmur2, not librdkafka's default."""

from __future__ import annotations

import subprocess
from pathlib import Path

from fastapi.testclient import TestClient

from conveyor.infra.kafka.runtime import kafka_classpath
from conveyor.infra.maven import java_executable
from support.brokers import cache_dir
from support.events import orders_json

# Kafka's own test vectors for murmur2 (clients/src/test/.../utils/UtilsTest.java).
JAVA_MURMUR2_VECTORS = {
    "21": -973932308,
    "foobar": -790332482,
    "a-little-bit-long-string": -985981536,
    "a-little-bit-longer-string": -1486304829,
    "lkjh234lh9fiuh90y23oiuhsafujhadof229phr9h19h89h8": -58897971,
    "abc": 479470107,
}


def java_partitions(keys: list[str], partitions: int) -> list[tuple[int, int]]:
    """(murmur2, partition) of each key, computed by the Java client's own classes."""
    source = Path(__file__).parent.parent / "support" / "java" / "Partitions.java"
    result = subprocess.run(
        [java_executable(), "-cp", kafka_classpath(cache_dir()), str(source), str(partitions)],
        input="\n".join(keys) + "\n",
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    return [(int(m), int(p)) for m, p in (line.split() for line in result.stdout.splitlines())]


def test_the_java_client_reproduces_kafkas_own_murmur2_vectors() -> None:
    computed = java_partitions(list(JAVA_MURMUR2_VECTORS), 6)

    assert [m for m, _ in computed] == list(JAVA_MURMUR2_VECTORS.values())


def test_each_event_lands_on_the_partition_the_java_client_computes(api: TestClient) -> None:
    orders = orders_json(120)
    for n, order in enumerate(orders):
        order["customer_id"] = f"kunde-{n}-ö" if n % 10 == 0 else f"customer-{n * 7919}"
    partitions = api.app.state.conveyor.settings.streams["orders"].partitions  # type: ignore[attr-defined]

    receipts = api.post("/v1/streams/orders/events", json=orders).json()["events"]

    expected = java_partitions([o["customer_id"] for o in orders], partitions)
    assert [r["partition"] for r in receipts] == [p for _, p in expected]
    assert len({r["partition"] for r in receipts}) == partitions  # every partition is used
