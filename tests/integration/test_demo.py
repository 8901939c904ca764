"""``conveyor demo`` against the session's broker and registry, through a real API process."""

from __future__ import annotations

import os
from pathlib import Path

from conveyor.infra.processes import free_port_block
from support.cli import conveyor


def test_demo_posts_orders_to_the_api_and_shows_each_one_read_back(
    bootstrap_servers: str, registry_url: str, tmp_path: Path
) -> None:
    port = free_port_block(1)
    env = {
        **os.environ,
        "KAFKA_BOOTSTRAP_SERVERS": bootstrap_servers,
        "SCHEMA_REGISTRY_URL": registry_url,
        "CONVEYOR_API__PORT": str(port),
    }

    result = conveyor("demo", "--data-dir", str(tmp_path), env=env)

    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[:3] == [
        f"KAFKA_BOOTSTRAP_SERVERS={bootstrap_servers}",
        f"SCHEMA_REGISTRY_URL={registry_url}",
        f"CONVEYOR_API_URL=http://127.0.0.1:{port}",
    ]
    rows = [line.split() for line in lines[5:]]
    assert len(rows) == 5
    assert len({row[0] for row in rows}) == 5  # five distinct event ids
    assert {row[3] for row in rows} == {"queued"}  # no workers yet: each job waits
    assert {row[5] for row in rows} <= {"eu", "na", "apac", "latam"}
    assert "5 of 5 read back from Kafka" in result.stderr
