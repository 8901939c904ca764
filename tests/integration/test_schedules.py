"""Schedules against a real result store: each tick is queued once, even with two leaders,
ticks missed while no worker led are fired late within their catch_up, older ones skipped."""

from __future__ import annotations

import contextlib
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy.exc import DBAPIError

from conveyor.config import Settings, load_settings
from conveyor.config.exceptions import ConfigError
from conveyor.kafka.records import OutboxRecord
from conveyor.processors.schedules import Scheduler, tick_event_id
from conveyor.store import JobStore
from conveyor.store.results import outbox_after

START = datetime(2026, 11, 22, 10, 0, 0, 300_000, tzinfo=UTC)
DIGEST = {"recipient": "ops@example.test", "subject": "digest", "body": "the hour's news"}


def with_schedule(**schedule: Any) -> Settings:
    notifications = load_settings().streams["notifications"].model_dump(by_alias=True)
    notifications["priorities"] = {"levels": ["high", "normal"], "default": "normal"}
    notifications["schedules"] = {"digest": {"event": DIGEST, **schedule}}
    return load_settings(streams={"notifications": notifications})


def scheduler(settings: Settings, store: JobStore) -> Scheduler:
    built = Scheduler.build(settings, store, lambda stream: 7)
    assert built is not None
    return built


def queued(store: JobStore) -> list[OutboxRecord]:
    with store.engine.connect() as conn:
        rows = outbox_after(conn, 0, 10_000)
    return [
        OutboxRecord(r.topic, r.key, r.value, OutboxRecord.headers_from_blob(r.headers))
        for r in rows
    ]


def ids(records: list[OutboxRecord]) -> list[str]:
    return [dict(r.headers)["ce_id"].decode() for r in records]  # type: ignore[union-attr]


def at(seconds: float) -> datetime:
    return START + timedelta(seconds=seconds)


def test_a_new_schedule_starts_at_its_next_tick_and_queues_each_tick_once(
    store: JobStore,
) -> None:
    settings = with_schedule(every="2s", priority="high")
    leader = scheduler(settings, store)

    assert leader.fire_due(at(0)) == 0  # 10:00:00.3: it starts here
    assert leader.fire_due(at(1)) == 0
    assert leader.fire_due(at(1.8)) == 1  # 10:00:02
    assert leader.fire_due(at(1.9)) == 0
    assert leader.fire_due(at(6)) == 2  # 10:00:04 and 10:00:06

    records = queued(store)
    assert ids(records) == [
        tick_event_id("notifications", "digest", at(-0.3 + s)) for s in (2, 4, 6)
    ]
    assert ids(records)[0] == "schedule.notifications.digest.20261122T100002.000Z"
    assert {r.topic for r in records} == {"notifications.priority.high"}
    assert {r.key for r in records} == {b"ops@example.test"}
    headers = dict(records[0].headers)
    assert headers["ce_time"] == b"2026-11-22T10:00:02.000Z"
    assert headers["ce_source"] == b"/conveyor/schedules/notifications/digest"


def test_workers_that_all_think_they_lead_queue_each_tick_once(store: JobStore) -> None:
    settings = with_schedule(every="1s")
    leaders = [scheduler(settings, store) for _ in range(4)]
    leaders[0].fire_due(at(0))

    def lead(leader: Scheduler) -> None:
        for step in range(1, 40):
            # A write conflict fails the look; the worker's loop looks again later.
            with contextlib.suppress(DBAPIError):
                leader.fire_due(at(step / 4))

    with ThreadPoolExecutor(len(leaders)) as pool:
        list(pool.map(lead, leaders))

    counts = Counter(ids(queued(store)))
    assert len(counts) == 10  # 10:00:01 to 10:00:10
    assert set(counts.values()) == {1}


def test_ticks_missed_while_no_worker_led_are_fired_within_catch_up_and_skipped_beyond(
    store: JobStore,
) -> None:
    settings = with_schedule(every="1m", catch_up="3m")
    scheduler(settings, store).fire_due(at(0))

    # Back after ten minutes without a leader: the last three minutes' ticks are fired.
    fired = scheduler(settings, store).fire_due(at(600))

    assert fired == 3
    assert [i[-12:] for i in ids(queued(store))] == ["T100800.000Z", "T100900.000Z", "T101000.000Z"]


def test_an_event_that_does_not_fit_its_streams_schema_stops_the_worker_at_start(
    store: JobStore,
) -> None:
    settings = with_schedule(every="1s")
    notifications = settings.streams["notifications"].model_dump(by_alias=True)
    notifications["schedules"]["digest"]["event"] = {"recipient": "ops@example.test"}

    with pytest.raises(ConfigError, match="schedule 'digest': its event does not fit"):
        Scheduler.build(load_settings(streams={"notifications": notifications}), store, id)
