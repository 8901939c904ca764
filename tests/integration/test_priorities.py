"""Priority levels: the API routes to each level's topic, a worker takes high work first
without starving the low, and a dead letter goes back to its level."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from confluent_kafka import Producer
from fastapi.testclient import TestClient
from sqlalchemy import create_engine, select

from conveyor.api import create_app
from conveyor.config import Settings
from conveyor.kafka.config import producer_config
from conveyor.kafka.events import Event
from conveyor.kafka.headers import failure_headers
from conveyor.ops.redrive import Selection, redrive
from conveyor.processors.exceptions import InvalidEventError
from conveyor.store import JobStore
from conveyor.store.tables import jobs
from support.events import orders_json, read_all
from support.waiting import wait_for
from support.workers import job_statuses, running_workers

LEVELS = {"levels": ["high", "normal", "low"], "default": "normal"}
NOTE = {"recipient": "r@example.test", "subject": "hi", "body": "b"}


@pytest.fixture
def api(stack_settings: Callable[..., Settings]) -> Iterator[TestClient]:
    """The API on fresh topics, its notifications with three levels and delay tiers."""
    settings = stack_settings(notifications={"priorities": LEVELS, "delays": ["1s", "1m"]})
    with TestClient(create_app(settings)) as client:
        yield client


def test_each_event_lands_on_its_levels_topic_by_field_or_header(api: TestClient) -> None:
    topic = api.app.state.conveyor.settings.streams["notifications"].topic  # type: ignore[attr-defined]
    url = "/v1/streams/notifications/events"

    by_field = api.post(url, json=[{**NOTE, "priority": "high"}, NOTE, {**NOTE, "priority": "low"}])
    by_header = api.post(url, json=NOTE, headers={"Conveyor-Priority": "low"})
    overridden = api.post(
        url, json=[{**NOTE, "priority": "high"}], headers={"Conveyor-Priority": "low"}
    )

    assert [r["topic"] for r in by_field.json()["events"]] == [
        f"{topic}.priority.high",
        topic,
        f"{topic}.priority.low",
    ]
    assert by_header.json()["topic"] == f"{topic}.priority.low"
    assert overridden.json()["events"][0]["topic"] == f"{topic}.priority.high"
    job = api.get(by_header.json()["status_url"]).json()
    assert (job["status"], job["topic"]) == ("queued", f"{topic}.priority.low")
    assert job["ahead"] >= 0  # the API measures each level's lag


def test_an_unknown_level_is_a_422_naming_the_levels_and_nothing_is_sent(api: TestClient) -> None:
    url = "/v1/streams/notifications/events"

    in_field = api.post(url, json=[NOTE, {**NOTE, "priority": "urgent"}])
    in_header = api.post(url, json=NOTE, headers={"Conveyor-Priority": "urgent"})

    assert in_field.status_code == 422
    (problem,) = in_field.json()["detail"]
    assert (problem["index"], problem["loc"]) == (1, ["priority"])
    assert "'high', 'normal' or 'low'" in problem["msg"]
    assert in_header.status_code == 422
    assert in_header.json()["detail"][0]["loc"] == ["header", "Conveyor-Priority"]
    assert "unknown level 'urgent'" in in_header.json()["detail"][0]["msg"]


def test_a_future_not_before_lands_on_a_delay_tier_and_a_naive_one_is_refused(
    api: TestClient,
) -> None:
    topic = api.app.state.conveyor.settings.streams["notifications"].topic  # type: ignore[attr-defined]
    url = "/v1/streams/notifications/events"
    soon = (datetime.now(UTC) + timedelta(seconds=30)).isoformat()

    delayed = api.post(url, json={**NOTE, "not_before": soon})
    naive = api.post(url, json={**NOTE, "not_before": "2026-11-22T10:00:00"})

    assert delayed.status_code == 202, delayed.text
    assert delayed.json()["topic"] == f"{topic}.delay.1s"
    assert naive.status_code == 422
    assert naive.json()["detail"][0]["loc"] == ["not_before"]


LOW_BACKLOG = 10_000
HIGH = 200


def test_high_priority_work_overtakes_a_low_priority_backlog_which_still_drains(
    stack_settings: Callable[..., Settings], tmp_path: Path
) -> None:
    """Order and counts, never times: every high order settles before most of a low
    backlog the worker was already working through, and the backlog drains in full.
    (How long each waited is `conveyor bench priorities`'s figure.)"""
    settings = stack_settings(orders={"priorities": {"levels": ["high", "low"], "default": "low"}})
    url = "/v1/streams/orders/events"
    with TestClient(create_app(settings)) as api:

        def post(events: list[dict[str, Any]], **headers: str) -> set[str]:
            response = api.post(url, json=events, headers=headers)
            assert response.status_code == 202, response.text
            return {r["event_id"] for r in response.json()["events"]}

        # The whole backlog is queued before a worker runs, so it is all ahead of the high
        # orders however fast this machine posts beside the worker.
        backlog = orders_json(LOW_BACKLOG, seed=81)
        low = set().union(*(post(backlog[n : n + 1_000]) for n in range(0, LOW_BACKLOG, 1_000)))
        with running_workers(settings, tmp_path, 1):
            wait_for(
                lambda: len(_settled(settings) & low) >= 1_000,
                timeout=120,
                what="the worker working through the backlog",
            )
            high = post(orders_json(HIGH, seed=82), **{"Conveyor-Priority": "high"})
            wait_for(
                lambda: job_statuses(settings) == {"succeeded": LOW_BACKLOG + HIGH},
                timeout=300,
                interval=1.0,
                what="every order settled",
            )

    settled_at = _settled_at(settings)
    last_high = max(settled_at[event_id] for event_id in high)
    low_after = sum(1 for event_id in low if settled_at[event_id] > last_high)
    print(f"low orders settled after the last high one: {low_after:,} of {LOW_BACKLOG:,}")
    assert low_after >= LOW_BACKLOG // 2


def _settled(settings: Settings) -> set[str]:
    return set(_settled_at(settings))


def _settled_at(settings: Settings) -> dict[str, datetime]:
    """When each succeeded job settled: compared with one another, to tell their order."""
    engine = create_engine(settings.database_url)
    try:
        with engine.connect() as conn:
            rows = conn.execute(
                select(jobs.c.event_id, jobs.c.updated_at).where(jobs.c.status == "succeeded")
            )
            return {event_id: updated_at for event_id, updated_at in rows}
    finally:
        engine.dispose()


def test_a_dead_letter_is_redriven_to_the_level_it_came_from(
    stack_settings: Callable[..., Settings],
) -> None:
    priorities = {"levels": ["high", "low"], "default": "low"}
    settings = stack_settings(orders={"priorities": priorities, "delays": ["1s"]})
    stream = settings.streams["orders"]
    high, low = stream.level_topics
    origins = {b"from high": high, b"from a delay tier": stream.delay_topics[0], b"from low": low}
    producer = Producer(producer_config(settings.kafka))
    for n, (value, origin) in enumerate(origins.items()):
        event = Event(f"e-{n}", {}, b"c-1", value, {"ce_id": f"e-{n}".encode()}, origin, 0, n)
        failed = failure_headers(event, 1, InvalidEventError("bad"), datetime.now(UTC), None)
        producer.produce(stream.dlq_topic, key=b"c-1", value=value, headers=failed)
    assert producer.flush(10) == 0
    store = JobStore(settings.database_url)
    store.create_schema()

    plan, _ = redrive(settings, stream, Selection(all_=True), store)

    assert len(plan.chosen) == 3
    assert [r["value"] for r in read_all(settings, high, idle=1.0, decode=False)] == [b"from high"]
    back_to_low = {r["value"] for r in read_all(settings, low, idle=1.0, decode=False)}
    assert back_to_low == {b"from a delay tier", b"from low"}  # a delay's time has passed
    store.dispose()
