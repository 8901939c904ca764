"""Jobs far longer than the group's patience, through a real worker whose group counts a
member gone after 6 s without a heartbeat (``session.timeout.ms``) or 20 s without a poll
(``max.poll.interval.ms``): jobs of 90 s run to their end, each handler called once, with
no rebalance (the one member holds the same partitions from start to end), while short
jobs, on the other partitions too, keep settling all along."""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager
from functools import partial
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest
from fastapi.testclient import TestClient

from conveyor.config import Settings
from conveyor.kafka.admin import admin_client
from conveyor.monitoring.groups import Owner, describe_group
from support.events import orders_json, read_all
from support.jobs import LONG_SECONDS, Marks
from support.waiting import wait_for
from support.workers import Pipeline, worker_process

SESSION_SECONDS = 6.0
MAX_POLL_SECONDS = 20.0
LONG_JOBS = ("long-1", "long-2")
# How far the long jobs are when each wave of short jobs is posted: the later waves come
# after the long jobs outlived the max poll interval (a quarter of 90 s is 22.5 s).
WAVES = (0.0, 0.25, 0.5)
WAVE_SIZE = 8


@pytest.fixture(autouse=True)
def _handlers_importable(monkeypatch: pytest.MonkeyPatch) -> None:
    """The worker process imports the tests' handlers (``support.jobs``)."""
    tests = str(Path(__file__).parents[1])
    monkeypatch.setenv(
        "PYTHONPATH", os.pathsep.join(filter(None, [tests, os.getenv("PYTHONPATH")]))
    )


def _orders(prefix: str, count: int, seed: int) -> list[dict[str, Any]]:
    """Orders of customers of their own (each its own key), ids ``<prefix>-<n>``."""
    return [
        {**order, "event_id": f"{prefix}-{n}", "customer_id": f"c-{prefix}-{n}"}
        for n, order in enumerate(orders_json(count, seed=seed), start=1)
    ]


def _post(api: TestClient, orders: list[dict[str, Any]]) -> dict[str, int]:
    """Each order's partition, by event id."""
    response = api.post("/v1/streams/orders/events", json=orders)
    assert response.status_code == 202, response.text
    return {r["event_id"]: r["partition"] for r in response.json()["events"]}


def _job(api: TestClient, event_id: str) -> dict[str, Any]:
    response = api.get(f"/v1/jobs/{quote(event_id, safe='')}")
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def _statuses(api: TestClient, event_ids: Sequence[str]) -> list[str]:
    return [_job(api, event_id)["status"] for event_id in event_ids]


def _all_succeeded(api: TestClient, event_ids: Sequence[str]) -> bool:
    return all(_job(api, event_id)["status"] == "succeeded" for event_id in event_ids)


def _all_as_far_as(api: TestClient, event_ids: Sequence[str], fraction: float) -> bool:
    """Whether every one of the jobs reported at least ``fraction`` done."""
    progress = [_job(api, event_id).get("progress") for event_id in event_ids]
    return all(p is not None and p["fraction"] >= fraction for p in progress)


def _owners(settings: Settings) -> dict[tuple[str, int], Owner]:
    """Who holds each partition of the orders topic."""
    topic = settings.streams["orders"].topic
    membership = describe_group(admin_client(settings.kafka), settings.workers.group_id)
    return {tp: owner for tp, owner in membership.owners.items() if tp[0] == topic}


def _enriched(settings: Settings) -> list[str]:
    topic = settings.streams["orders"].outputs["enriched"].topic
    return [r["headers"]["ce_id"].decode() for r in read_all(settings, topic)]


def test_jobs_far_longer_than_the_groups_timeouts_run_once_to_their_end_while_short_jobs_settle(
    make_pipeline: Callable[..., AbstractContextManager[Pipeline]], tmp_path: Path
) -> None:
    with make_pipeline(workers=0, orders={"handler": "support.jobs:LongOrders"}) as pipeline:
        workers = pipeline.settings.workers.model_copy(
            update={
                "session_timeout_seconds": SESSION_SECONDS,
                "max_poll_interval_seconds": MAX_POLL_SECONDS,
            }
        )
        settings = pipeline.settings.model_copy(update={"workers": workers})
        api, marks = pipeline.api, Marks(settings.data_dir)
        log = tmp_path / "worker.log"
        with worker_process(settings, tmp_path, "worker", 1):
            # The consumer was given the low timeouts, not the defaults.
            assert "session timeout 6s, max poll interval 20s" in log.read_text()
            long_on = _post(api, _orders("long", len(LONG_JOBS), seed=1))
            assert set(long_on) == set(LONG_JOBS)
            wait_for(
                lambda: all(marks.count(job, "called") for job in LONG_JOBS),
                timeout=120,
                what="the long jobs started",
            )
            holders = _owners(settings)
            assert len({owner.member_id for owner in holders.values()}) == 1

            short_on: dict[str, int] = {}
            for wave, fraction in enumerate(WAVES, start=1):
                wait_for(
                    partial(_all_as_far_as, api, LONG_JOBS, fraction),
                    timeout=LONG_SECONDS * 3,
                    what=f"the long jobs {fraction:.0%} done",
                )
                posted = _post(api, _orders(f"short-{wave}", WAVE_SIZE, seed=10 + wave))
                short_on.update(posted)
                wait_for(
                    partial(_all_succeeded, api, list(posted)),
                    timeout=120,
                    what=f"wave {wave} of short jobs settled",
                )
                # Settled while both long jobs still run.
                assert _statuses(api, LONG_JOBS) == ["processing"] * len(LONG_JOBS)
                print(f"wave {wave} settled with the long jobs {fraction:.0%}+ done")

            wait_for(
                partial(_all_succeeded, api, LONG_JOBS),
                timeout=LONG_SECONDS * 3,
                what="the long jobs succeeded",
            )
            # No rebalance: the member that held the partitions when the long jobs began
            # (a member that left or was evicted comes back under a new id) holds them still.
            assert _owners(settings) == holders
        # Nor a rejoin: the worker joined its group once (aiokafka says so at each join).
        assert log.read_text().count("Joined group") == 1

        for job in LONG_JOBS:
            assert marks.count(job, "called") == 1
            assert marks.count(job, "finished") == 1
        assert {marks.count(job, "called") for job in short_on} == {1}
        # Short jobs on partitions no long job was on, as well as beside them.
        assert set(short_on.values()) - set(long_on.values())
        enriched = _enriched(settings)
        assert sorted(enriched) == sorted([*LONG_JOBS, *short_on])
