"""Where the test suite's Kafka and schema registry come from.

In order: ``KAFKA_BOOTSTRAP_SERVERS`` if set; a testcontainers broker where a Docker
engine answers; otherwise conveyor's own local launcher. Under ``CI=true`` a test
that cannot get a broker fails; elsewhere it is skipped with the reason.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from confluent_kafka.admin import AdminClient
from testcontainers.community.kafka import KafkaContainer

from conveyor.config import KafkaSettings, load_settings
from conveyor.exceptions import ConveyorError
from conveyor.infra.kafka import LocalCluster, SaslUser
from conveyor.infra.kafka.properties import CONTROLLER_PORT_OFFSET
from conveyor.infra.processes import free_port_block
from conveyor.infra.registry import LocalRegistry
from support.ci import unavailable
from support.kafka import fully_in_sync
from support.waiting import wait_for

_IN_SYNC_TIMEOUT = 120.0


def cache_dir() -> Path:
    # The same cache the CLI uses, so a developer's machine resolves Kafka once.
    return load_settings().cache_dir


@contextmanager
def local_cluster(root: Path, nodes: int, sasl: SaslUser | None = None) -> Iterator[LocalCluster]:
    port = free_port_block(nodes, offset=CONTROLLER_PORT_OFFSET)
    cluster = LocalCluster(root, cache_dir(), nodes=nodes, port=port, sasl=sasl)
    try:
        cluster.start()
    except ConveyorError as exc:
        unavailable(f"cannot start a local {nodes}-node Kafka: {exc}")
    try:
        yield cluster
    finally:
        cluster.stop()


def restart_in_sync(cluster: LocalCluster, node_id: int) -> None:
    """Start a killed node again and wait until every partition is back in sync on it,
    so the next fault starts from a whole cluster."""
    cluster.restart(node_id)
    admin = AdminClient({"bootstrap.servers": cluster.bootstrap_servers})
    wait_for(
        lambda: fully_in_sync(admin),
        timeout=_IN_SYNC_TIMEOUT,
        interval=1.0,
        what=f"every partition in sync after node {node_id} came back",
    )


def _docker_answers() -> bool:
    docker = shutil.which("docker")
    if docker is None:
        return False
    try:
        return (
            subprocess.run(
                [docker, "info"], capture_output=True, timeout=10, check=False
            ).returncode
            == 0
        )
    except subprocess.TimeoutExpired:
        return False


@contextmanager
def kafka_bootstrap(root: Path) -> Iterator[str]:
    """Bootstrap servers of a single broker for the session."""
    configured = os.environ.get("KAFKA_BOOTSTRAP_SERVERS")
    if configured:
        yield configured
    elif _docker_answers():
        with KafkaContainer("confluentinc/cp-kafka:8.1.0").with_kraft() as container:
            yield container.get_bootstrap_server()
    else:
        with local_cluster(root, nodes=1) as cluster:
            yield cluster.bootstrap_servers


@contextmanager
def registry_url(root: Path, bootstrap_servers: str) -> Iterator[str]:
    configured = os.environ.get("SCHEMA_REGISTRY_URL")
    if configured:
        yield configured
        return
    with local_registry(root, KafkaSettings(bootstrap_servers=bootstrap_servers)) as url:
        yield url


@contextmanager
def local_registry(root: Path, kafka: KafkaSettings) -> Iterator[str]:
    """A registry of conveyor's launcher on the cluster ``kafka`` connects to; its URL."""
    registry = LocalRegistry(root, cache_dir(), kafka, port=free_port_block(1))
    try:
        registry.start()
    except ConveyorError as exc:
        unavailable(f"cannot start the local schema registry: {exc}")
    try:
        yield registry.url
    finally:
        registry.stop()
