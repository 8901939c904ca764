"""Jobs' changes as Server-Sent Events over real HTTP, from the streams' change feeds on a
real broker: a job's events show each status and progress report until it is final; a
client that reconnects with ``Last-Event-ID`` misses nothing, for a job and for a key of a
stream; a cancel is on the feed too."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx
import pytest

from conveyor.api import create_app
from conveyor.client.http import AsyncConveyorClient, ConveyorClient
from conveyor.config import Settings
from support.browser import serving
from support.events import orders_json
from support.jobs import release
from support.waiting import wait_for
from support.workers import running_workers

HELD_ORDERS = "support.jobs:HeldOrders"  # an order whose id starts with "hold-" waits


@pytest.fixture(autouse=True)
def _handlers_importable(monkeypatch: pytest.MonkeyPatch) -> None:
    """The worker processes import the tests' handlers (``support.jobs``)."""
    monkeypatch.setenv("PYTHONPATH", str(Path(__file__).parents[1]))


@pytest.fixture
def api(stack_settings: Callable[..., Settings]) -> Iterator[tuple[Settings, str]]:
    settings = stack_settings(orders={"handler": HELD_ORDERS})
    with serving(create_app(settings)) as url:
        yield settings, url


def _orders(customer: str, *event_ids: str) -> list[dict[str, Any]]:
    return [
        {**order, "event_id": event_id, "customer_id": customer}
        for order, event_id in zip(orders_json(len(event_ids)), event_ids, strict=True)
    ]


def _events(
    url: str, last_event_id: str | None, enough: Callable[[list[dict[str, Any]]], bool]
) -> list[dict[str, Any]]:
    """Server-Sent Events of ``url`` (each as its ``event``, ``id`` and decoded ``data``)
    until ``enough`` of them came, then the connection is closed."""
    headers = {} if last_event_id is None else {"Last-Event-ID": last_event_id}
    events: list[dict[str, Any]] = []
    current: dict[str, Any] = {}
    with httpx.stream("GET", url, headers=headers, timeout=httpx.Timeout(30, read=120)) as response:
        assert response.status_code == 200, response.read()
        assert response.headers["content-type"].startswith("text/event-stream")
        for line in response.iter_lines():
            if line.startswith(":"):
                continue
            if line:
                name, _, value = line.partition(": ")
                current[name] = json.loads(value) if name == "data" else value
                continue
            if current:
                events.append(current)
                current = {}
                if enough(events):
                    return events
    return events


def _status(url: str, event_id: str) -> str:
    return str(httpx.get(f"{url}/v1/jobs/{quote(event_id, safe='')}").json()["status"])


def test_a_jobs_events_show_each_change_and_resume_where_they_left_off(
    api: tuple[Settings, str], tmp_path: Path
) -> None:
    settings, url = api
    with ConveyorClient(url) as client:
        client.send_batch("orders", _orders("c-1", "hold-1"))
    events_url = f"{url}/v1/jobs/hold-1/events"
    wait_for(lambda: _status(url, "hold-1") == "queued", what="the job's row")
    (first,) = _events(events_url, None, lambda got: len(got) == 1)

    with running_workers(settings, tmp_path):
        wait_for(
            lambda: httpx.get(f"{url}/v1/jobs/hold-1").json().get("progress") is not None,
            timeout=120,
            what="the job's progress",
        )
        release(settings.data_dir, "hold-1")
        # Everything after the first event, read once the job is long done.
        wait_for(lambda: _status(url, "hold-1") == "succeeded", timeout=120, what="hold-1")
        rest = _events(
            events_url, first["id"], lambda got: got[-1]["data"]["status"] == "succeeded"
        )

        async def from_now() -> list[dict[str, Any]]:
            async with AsyncConveyorClient(url) as changes:
                return [change async for change in changes.changes("hold-1")]

        final_only = asyncio.run(from_now())

    assert (first["event"], first["data"]["status"]) == ("status", "queued")
    assert [(e["event"], e["data"]["status"]) for e in rest] == [
        ("status", "processing"),
        ("progress", "processing"),
        ("status", "succeeded"),
    ]
    assert (rest[1]["data"]["progress"], rest[1]["data"]["message"]) == (0.5, "half way")
    assert "size" in rest[2]["data"]["result"]
    assert {e["data"]["event_id"] for e in rest} == {"hold-1"}
    # A job already final: its view, and the stream ends.
    assert [(c["event"], c["status"]) for c in final_only] == [("status", "succeeded")]


def test_a_keys_events_resumed_with_last_event_id_miss_nothing(
    api: tuple[Settings, str], tmp_path: Path
) -> None:
    settings, url = api
    feed = f"{url}/v1/streams/orders/job-events?key=c-7"
    (ready,) = _events(feed, None, lambda got: len(got) == 1)
    mine = [f"c7-{n}" for n in range(10)]
    with ConveyorClient(url) as client:
        client.send_batch(
            "orders", _orders("c-7", *mine) + _orders("c-8", *(f"c8-{n}" for n in range(10)))
        )

    with running_workers(settings, tmp_path):
        wait_for(
            lambda: all(_status(url, i) == "succeeded" for i in mine),
            timeout=120,
            what="c-7's jobs",
        )

        def all_succeeded(got: list[dict[str, Any]]) -> bool:
            return int(sum(e["data"]["status"] == "succeeded" for e in got)) >= len(mine)

        missed = _events(feed, ready["id"], all_succeeded)

    assert ready["event"] == "ready"
    assert {e["data"]["key"] for e in missed} == {"c-7"}
    by_job: dict[str, list[str]] = {}
    for event in missed:
        by_job.setdefault(event["data"]["event_id"], []).append(event["data"]["status"])
    assert by_job == {i: ["processing", "succeeded"] for i in mine}


def test_a_cancel_ends_a_followed_job_with_its_cancelled_status(
    api: tuple[Settings, str], tmp_path: Path
) -> None:
    settings, url = api
    with ConveyorClient(url) as client:
        client.send_batch("orders", _orders("c-2", "hold-2"))
    wait_for(lambda: _status(url, "hold-2") == "queued", what="the job's row")

    async def follow_and_cancel(workers: ExitStack) -> list[dict[str, Any]]:
        async with AsyncConveyorClient(url) as client:
            seen: list[dict[str, Any]] = []
            async for change in client.changes("hold-2"):
                seen.append(change)
                if len(seen) == 1:  # followed from its queued state on
                    workers.enter_context(running_workers(settings, tmp_path))
                if change["event"] == "progress":
                    assert (await client.cancel("hold-2"))["status"] == "cancelled"
            return seen

    with ExitStack() as workers:
        seen = asyncio.run(follow_and_cancel(workers))

    assert [(c["event"], c["status"]) for c in seen] == [
        ("status", "queued"),
        ("status", "processing"),
        ("progress", "processing"),
        ("status", "cancelled"),
    ]
