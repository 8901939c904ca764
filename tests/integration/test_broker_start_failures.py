"""``conveyor broker start`` that cannot succeed starts nothing, or stops all it started,
and says which port or log is at fault."""

from __future__ import annotations

import os
import socket
from collections.abc import Iterator
from pathlib import Path

import pytest

from conveyor.infra.kafka.properties import CONTROLLER_PORT_OFFSET
from conveyor.infra.processes import free_port_block
from support.cli import conveyor
from support.processes import processes_mentioning


@pytest.fixture
def data_dir(tmp_path: Path) -> Iterator[Path]:
    yield tmp_path
    # Whatever a failing start left behind must not outlive the test and hold its ports.
    conveyor("broker", "stop", "--data-dir", str(tmp_path), timeout=60)


def test_a_taken_port_is_named_with_its_holder_and_nothing_starts(data_dir: Path) -> None:
    port = free_port_block(3, offset=CONTROLLER_PORT_OFFSET)
    taken = port + 1 + CONTROLLER_PORT_OFFSET  # the second node's controller port
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", taken))
        holder.listen()

        result = conveyor(
            "broker", "start", "--nodes", "3", "--port", str(port), "--data-dir", str(data_dir)
        )

    assert result.returncode == 1
    error = result.stderr.strip().splitlines()[-1]
    assert error.startswith(f"Error: port {taken} on 127.0.0.1 is already in use"), error
    assert f"held by pid {os.getpid()} (" in error
    assert "Traceback" not in result.stderr
    assert processes_mentioning(data_dir) == []
    assert list(data_dir.glob("kafka/node-*/logs/stdout.log")) == []  # no node was spawned
    assert result.stdout == ""  # no KAFKA_BOOTSTRAP_SERVERS for anyone to export


def test_a_node_that_cannot_start_stops_the_nodes_that_did(data_dir: Path) -> None:
    port = free_port_block(3, offset=CONTROLLER_PORT_OFFSET)
    # Storage that claims to be another node's: node 3 refuses to start, 1 and 2 come up.
    storage = data_dir / "kafka" / "node-3" / "data"
    storage.mkdir(parents=True)
    (storage / "meta.properties").write_text(
        "version=1\ncluster.id=3Db5QLSqSZieL3rJBUUegA\nnode.id=99\n"
        "directory.id=eY8yQAP0TJ-xcsgg7e4WVA\n"
    )

    result = conveyor(
        "broker", "start", "--nodes", "3", "--port", str(port), "--data-dir", str(data_dir)
    )

    assert result.returncode == 1
    assert processes_mentioning(data_dir) == []  # nodes 1 and 2 had started: stopped
    error = result.stderr.strip().splitlines()[-1]
    assert error.startswith("Error: Kafka node 3 exited during startup: Stored node id 99"), error
    assert str(data_dir / "kafka" / "node-3" / "logs" / "server.log") in error
    assert "stopped nodes 1, 2" in error
    status = conveyor("broker", "status", "--data-dir", str(data_dir))
    assert status.returncode == 1
    assert status.stdout.count("stopped") == 3
