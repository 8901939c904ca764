"""``conveyor demo`` against the session's broker and registry: real API and worker
processes, a loopback mail server, and the results shown."""

from __future__ import annotations

import os
import re
from pathlib import Path

from conveyor.infra.processes import free_port_block
from support.cli import conveyor


def test_demo_sends_orders_and_notifications_and_shows_every_result(
    bootstrap_servers: str, registry_url: str, tmp_path: Path
) -> None:
    port, smtp_port = free_port_block(1), free_port_block(1)
    env = {
        **os.environ,
        "KAFKA_BOOTSTRAP_SERVERS": bootstrap_servers,
        "SCHEMA_REGISTRY_URL": registry_url,
        "CONVEYOR_API__PORT": str(port),
        "CONVEYOR_SMTP__PORT": str(smtp_port),  # the demo's own mail server, on a free port
        # Fresh names, so the session's other topics and groups are not in the picture.
        "CONVEYOR_WORKERS__GROUP_ID": f"demo-{port}",
    }

    result = conveyor(
        "demo", "--data-dir", str(tmp_path), "--orders", "50", "--notifications", "5", env=env
    )

    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert out.splitlines()[:3] == [
        f"KAFKA_BOOTSTRAP_SERVERS={bootstrap_servers}",
        f"SCHEMA_REGISTRY_URL={registry_url}",
        f"CONVEYOR_API_URL=http://127.0.0.1:{port}",
    ]
    assert re.search(r"jobs \(55\):\n  succeeded +55\n", out), out
    assert "orders.enriched (50 of 50 orders, read_committed)" in out
    assert re.search(r"analytics.revenue_per_minute \(\d+ windows", out)
    assert re.search(r"(eu|na|apac|latam)/EUR/\d{4}-\d\d-\d\dT\d\d:\d\dZ +\d+ +\d+\.\d\d EUR", out)
    assert "e-mails received (5 of 5 notifications)" in out
    assert "workers settling jobs" in result.stderr  # progress is shown as it goes
