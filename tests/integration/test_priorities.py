"""Priority levels: the API routes to each level's topic, a worker takes high work first
without starving the low, and a dead letter goes back to its level."""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from datetime import UTC, datetime, timedelta
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
from support.workers import Pipeline, job_statuses

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


LOW_BACKLOG = 30_000
HIGH = 300


def test_high_priority_work_overtakes_a_low_priority_backlog_which_still_moves(
    make_pipeline: Callable[..., AbstractContextManager[Pipeline]],
) -> None:
    orders = {"priorities": {"levels": ["high", "low"], "default": "low"}}
    with make_pipeline(orders=orders) as pipeline:
        _overtaking_story(pipeline)


def _overtaking_story(pipeline: Pipeline) -> None:
    url = "/v1/streams/orders/events"
    posted: dict[str, float] = {}

    def post(events: list[dict[str, Any]], **headers: str) -> None:
        response = pipeline.api.post(url, json=events, headers=headers)
        assert response.status_code == 202, response.text
        at = time.time()
        posted.update((r["event_id"], at) for r in response.json()["events"])

    low = orders_json(LOW_BACKLOG, seed=81)
    for start in range(0, LOW_BACKLOG, 1_000):
        post(low[start : start + 1_000])
    low_ids = set(posted)
    low_settled_before = _settled(pipeline, low_ids)

    # Then urgent orders trickle in, ten at a time, while the backlog drains.
    high = orders_json(HIGH, seed=82)
    for start in range(0, HIGH, 10):
        post(high[start : start + 10], **{"Conveyor-Priority": "high"})
        _pace(0.05)
    high_ids = set(posted) - low_ids
    low_settled_during = _settled(pipeline, low_ids) - low_settled_before
    assert _settled(pipeline, low_ids) < LOW_BACKLOG, "the backlog drained before high work came"

    wait_for(
        lambda: job_statuses(pipeline.settings) == {"succeeded": LOW_BACKLOG + HIGH},
        timeout=180,
        interval=1.0,
        what="every order settled",
    )
    waits = _waits(pipeline, posted)
    high_p99 = _p99([waits[i] for i in high_ids])
    low_p99 = _p99([waits[i] for i in low_ids])
    print(
        f"p99 wait: high {high_p99:.3f}s, low {low_p99:.3f}s (ratio {high_p99 / low_p99:.3f}); "
        f"low settled while high came: {low_settled_during}"
    )
    assert high_p99 <= low_p99 / 10
    assert low_settled_during > 0


def _settled(pipeline: Pipeline, ids: set[str]) -> int:
    engine = create_engine(pipeline.settings.database_url)
    try:
        with engine.connect() as conn:
            rows = conn.execute(select(jobs.c.event_id).where(jobs.c.status == "succeeded"))
            return sum(1 for (event_id,) in rows if event_id in ids)
    finally:
        engine.dispose()


def _waits(pipeline: Pipeline, posted: dict[str, float]) -> dict[str, float]:
    """Seconds from each event's 202 to its job's final status."""
    engine = create_engine(pipeline.settings.database_url)
    try:
        with engine.connect() as conn:
            rows = conn.execute(select(jobs.c.event_id, jobs.c.updated_at))
            return {
                event_id: updated.replace(tzinfo=UTC).timestamp() - posted[event_id]
                for event_id, updated in rows
            }
    finally:
        engine.dispose()


def _p99(values: list[float]) -> float:
    return statistics.quantiles(values, n=100)[98]


def _pace(seconds: float) -> None:
    """Spread the sending out: traffic arriving over time, not a wait for an outcome."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        time.sleep(0.01)


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
