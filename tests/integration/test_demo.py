"""``conveyor demo`` against the session's broker and registry."""

from __future__ import annotations

import json
import os
import subprocess
import sys


def test_demo_sends_orders_and_shows_each_one_read_back(
    bootstrap_servers: str, registry_url: str
) -> None:
    env = {
        **os.environ,
        "KAFKA_BOOTSTRAP_SERVERS": bootstrap_servers,
        "SCHEMA_REGISTRY_URL": registry_url,
    }

    result = subprocess.run(
        [sys.executable, "-m", "conveyor.cli", "demo"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )

    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[:2] == [
        f"KAFKA_BOOTSTRAP_SERVERS={bootstrap_servers}",
        f"SCHEMA_REGISTRY_URL={registry_url}",
    ]
    orders = [json.loads(line) for line in lines[2:]]
    assert len(orders) == 5
    assert len({o["event_id"] for o in orders}) == 5
    assert all(o["region"] in {"eu", "na", "apac", "latam"} for o in orders)
