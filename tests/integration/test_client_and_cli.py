"""The Python client, ``conveyor send`` and ``conveyor up`` against a real API process."""

from __future__ import annotations

import asyncio
import json
import signal
import subprocess
import sys
from collections.abc import Callable, Iterator
from functools import partial
from pathlib import Path

import httpx
import pytest

from conveyor.client.exceptions import ApiRefusedError, ApiUnavailableError
from conveyor.client.http import AsyncConveyorClient, ConveyorClient
from conveyor.common.backoff import Backoff
from conveyor.config import Settings
from conveyor.infra.processes import free_port_block
from conveyor.infra.services import conveyor_service, http_ok
from support.cli import conveyor, environment
from support.events import orders_json, read_topic
from support.waiting import wait_for


@pytest.fixture
def api_process(
    stack_settings: Callable[..., Settings], tmp_path: Path
) -> Iterator[tuple[Settings, dict[str, str]]]:
    settings = stack_settings(orders={"max_backlog": 30}, api={"lag_interval_seconds": 0.2})
    port = free_port_block(1)
    env = environment(settings, port)
    env["CONVEYOR_API__LAG_INTERVAL_SECONDS"] = "0.2"
    with conveyor_service(
        ["api"], env, tmp_path / "api.log", partial(http_ok, f"http://127.0.0.1:{port}/readyz")
    ):
        yield settings, env


def test_send_reads_json_lines_and_every_event_lands_once(
    api_process: tuple[Settings, dict[str, str]], tmp_path: Path
) -> None:
    settings, env = api_process
    orders = orders_json(25)
    source = tmp_path / "orders.ndjson"
    source.write_text("".join(json.dumps(o) + "\n" for o in orders))

    result = conveyor("send", "orders", str(source), "--batch-size", "10", "--receipts", env=env)

    assert result.returncode == 0, result.stderr
    receipts = [json.loads(line) for line in result.stdout.splitlines()]
    assert [r["event_id"] for r in receipts] == [o["event_id"] for o in orders]
    assert "sent 25 events to orders in 3 requests" in result.stderr
    records = read_topic(settings, settings.streams["orders"].topic, 25)
    assert sorted(r["value"]["event_id"] for r in records) == sorted(o["event_id"] for o in orders)


def test_send_names_the_line_that_is_not_json(
    api_process: tuple[Settings, dict[str, str]],
) -> None:
    _, env = api_process

    result = conveyor("send", "orders", "-", env=env, stdin='{"a": 1}\n{oops\n', timeout=60)

    assert result.returncode == 1
    assert "Error: line 2: not JSON" in result.stderr
    assert "Traceback" not in result.stderr


def test_the_client_backs_off_on_503_and_every_event_lands_exactly_once(
    api_process: tuple[Settings, dict[str, str]],
) -> None:
    settings, env = api_process
    orders = orders_json(60)
    retried = Backoff(base=0.05, cap=0.2, max_attempts=3)

    with ConveyorClient(env["CONVEYOR_API_URL"], backoff=retried) as client:
        accepted = [
            r["event_id"] for b in client.send("orders", orders[:40], batch_size=10) for r in b
        ]
        probes = iter(orders[40:50])

        def refused() -> bool:
            """Post one more event; True once the API answers 503 (the backlog is measured)."""
            probe = next(probes)
            answer = client._http.post(
                f"{env['CONVEYOR_API_URL']}/v1/streams/orders/events", json=probe
            )
            if answer.status_code == 202:
                accepted.append(probe["event_id"])
            return answer.status_code == 503

        # With no workers, 40 events are over the stream's max_backlog of 30.
        wait_for(refused, timeout=20, interval=0.3, what="the backlog to be measured")
        with pytest.raises(ApiUnavailableError, match="gave up after 3 attempts"):
            client.send_batch("orders", orders[50:])

    assert client.stats.retry_reasons["503"] == 3
    records = read_topic(settings, settings.streams["orders"].topic, len(accepted))
    assert sorted(r["value"]["event_id"] for r in records) == sorted(accepted)


def test_the_async_client_sends_in_batches_and_reports_refusals(
    api_process: tuple[Settings, dict[str, str]],
) -> None:
    _, env = api_process
    orders = orders_json(15)
    bad = {**orders[0], "region": "moon"}

    async def scenario() -> tuple[list[dict[str, object]], ApiRefusedError]:
        async with AsyncConveyorClient(env["CONVEYOR_API_URL"]) as client:
            receipts = await client.send("orders", orders, batch_size=4)
            with pytest.raises(ApiRefusedError) as refused:
                await client.send_batch("orders", [bad])
            return receipts, refused.value

    receipts, refused = asyncio.run(scenario())

    assert [r["event_id"] for r in receipts] == [o["event_id"] for o in orders]
    assert refused.status == 422
    assert "[0] region:" in str(refused)


def test_a_status_url_finds_the_job_whatever_its_id_holds(
    api_process: tuple[Settings, dict[str, str]],
) -> None:
    base = api_process[1]["CONVEYOR_API_URL"]
    order = {**orders_json(1)[0], "event_id": "shop/7?x=1#top%20:0"}

    # A real server: Starlette's TestClient decodes the path twice (%2520 became a space).
    with httpx.Client() as http:
        receipt = http.post(f"{base}/v1/streams/orders/events", json=order).json()
        job = http.get(base + receipt["status_url"])
    with ConveyorClient(base) as client:
        known = client.job(order["event_id"])

    assert receipt["status_url"] == "/v1/jobs/shop%2F7%3Fx%3D1%23top%2520%3A0"
    assert job.status_code == 200, job.text
    assert job.json()["event_id"] == known["event_id"] == order["event_id"]


def test_up_serves_the_api_prints_its_url_and_stops_on_sigterm(
    stack_settings: Callable[..., Settings], tmp_path: Path
) -> None:
    port = free_port_block(1)
    env = environment(stack_settings(), port)
    env["CONVEYOR_API__PORT"] = str(port)
    proc = subprocess.Popen(
        [sys.executable, "-m", "conveyor.cli", "up", "--data-dir", str(tmp_path / "state")],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        lines = [proc.stdout.readline().strip() for _ in range(4)]
    finally:
        proc.send_signal(signal.SIGTERM)
        _, stderr = proc.communicate(timeout=60)

    assert lines[:3] == [
        f"KAFKA_BOOTSTRAP_SERVERS={env['KAFKA_BOOTSTRAP_SERVERS']}",
        f"SCHEMA_REGISTRY_URL={env['SCHEMA_REGISTRY_URL']}",
        f"CONVEYOR_API_URL=http://127.0.0.1:{port}",
    ]
    assert proc.returncode == 0, stderr
    assert "stop" in stderr  # "stopping ..." (or, if SIGTERM beat the wait, "stopped")
