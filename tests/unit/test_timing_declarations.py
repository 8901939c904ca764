"""Priorities, delay tiers and schedules in stream declarations: topics, checks, ticks."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from conveyor.config import StreamDeclaration, load_streams
from conveyor.config.exceptions import ConfigError
from conveyor.config.streams import parse_stream
from conveyor.ops.topics import stream_topics
from conveyor.schemas.models import event_type

NOTIFICATIONS = load_streams()["notifications"].model_dump(by_alias=True)


def notifications(**declared: Any) -> StreamDeclaration:
    return parse_stream("notifications", {**NOTIFICATIONS, **declared})


LEVELS = {"levels": ["high", "normal", "low"], "default": "normal"}


def test_each_level_is_a_topic_the_default_one_being_the_streams_own() -> None:
    stream = notifications(priorities=LEVELS)

    assert stream.level_topics == [
        "notifications.priority.high",
        "notifications",
        "notifications.priority.low",
    ]
    assert stream.level_topic("low") == "notifications.priority.low"
    assert stream.level_topic(None) == "notifications"
    assert stream.consumed_topics[:3] == stream.level_topics


def test_delay_tiers_are_topics_named_for_their_length_shortest_first() -> None:
    stream = notifications(delays=["1s", "10s", "1m", "10m"])

    assert stream.delay_topics == [
        "notifications.delay.1s",
        "notifications.delay.10s",
        "notifications.delay.1m",
        "notifications.delay.10m",
    ]
    assert stream.consumed_topics[-4:] == stream.delay_topics


def test_topics_apply_provisions_every_level_and_tier_with_the_streams_partitions() -> None:
    stream = notifications(priorities=LEVELS, delays=["1s", "1m"])

    specs = {spec.name: spec for spec in stream_topics([stream])}

    for topic in [*stream.level_topics, *stream.delay_topics]:
        assert specs[topic].partitions == stream.partitions


@pytest.mark.parametrize(
    ("remaining_ms", "tier"),
    [
        (1, "1s"),
        (999, "1s"),
        (1_000, "1s"),
        (9_999, "1s"),
        (10_000, "10s"),
        (59_999, "10s"),
        (60_000, "1m"),
        (3_600_000, "10m"),
    ],
)
def test_an_event_waits_on_the_longest_tier_no_longer_than_its_wait(
    remaining_ms: int, tier: str
) -> None:
    stream = notifications(delays=["1s", "10s", "1m", "10m"])
    assert stream.delays is not None

    chosen = stream.delays.tier_for(remaining_ms)

    assert stream.delay_topics[chosen] == f"notifications.delay.{tier}"


@pytest.mark.parametrize(
    ("declared", "reason"),
    [
        ({"priorities": {"levels": ["high"], "default": "high"}}, "at least 2"),
        ({"priorities": {"levels": ["high", "high"], "default": "high"}}, "twice"),
        ({"priorities": {"levels": ["high", "low"], "default": "normal"}}, "not one of"),
        ({"priorities": {**LEVELS, "share": 0}}, "greater than 0"),
        ({"priorities": {"levels": ["High", "low"], "default": "low"}}, "pattern"),
        ({"delays": ["10s", "1s"]}, "shortest first"),
        ({"delays": ["1s", "1s"]}, "each once"),
        ({"delays": ["soon"]}, "expected e.g."),
        ({"delays": ["1m"], "retention": "30s"}, "longest delay tier"),
        ({"delays": ["1s"], "handler": None}, "need a handler"),
        ({"schedules": {"s": {"event": {}}}}, "either cron or every"),
        ({"schedules": {"s": {"cron": "61 * * * *", "event": {}}}}, "not a cron expression"),
        ({"schedules": {"s": {"every": "1s", "event": {}, "priority": "high"}}}, "not a declared"),
    ],
)
def test_a_declaration_that_cannot_work_is_refused_with_its_reason(
    declared: dict[str, Any], reason: str
) -> None:
    with pytest.raises(ConfigError, match=reason):
        notifications(**declared)


def test_a_schema_field_named_like_a_routing_field_is_refused(tmp_path: Path) -> None:
    schema = tmp_path / "ticket.avsc"
    schema.write_text(
        '{"type": "record", "name": "Ticket", "fields": [{"name": "event_id", "type": "string"},'
        ' {"name": "queue", "type": "string"}, {"name": "priority", "type": "int"}]}'
    )

    with pytest.raises(ConfigError, match="has a field 'priority'"):
        parse_stream("tickets", {"schema": str(schema), "key": "queue", "priorities": LEVELS})


def test_the_api_takes_priority_and_not_before_fields_only_where_declared() -> None:
    plain = event_type(notifications()).__annotations__
    routed = event_type(notifications(priorities=LEVELS, delays=["1s"])).__annotations__

    assert "priority" not in plain
    assert "not_before" not in plain
    assert {"priority", "not_before"} <= set(routed)


def test_an_interval_ticks_on_its_multiples_since_the_epoch() -> None:
    stream = notifications(schedules={"s": {"every": "2s", "event": {}}})
    schedule = stream.schedules["s"]
    at = datetime(2026, 1, 1, 0, 0, 3, 500_000, tzinfo=UTC)

    ticks = schedule.ticks(at, datetime(2026, 1, 1, 0, 0, 9, tzinfo=UTC), limit=10)

    assert [t.second for t in ticks] == [4, 6, 8]
    assert schedule.latest(at).second == 2
    assert schedule.latest(ticks[0]) == ticks[0]


def test_a_cron_schedule_ticks_in_utc_with_seconds_as_a_sixth_field() -> None:
    every_minute = notifications(schedules={"m": {"cron": "* * * * *", "event": {}}})
    every_5s = notifications(schedules={"s": {"cron": "* * * * * */5", "event": {}}})
    at = datetime(2026, 1, 1, 8, 0, 1, tzinfo=UTC)

    minutes = every_minute.schedules["m"].ticks(at, datetime(2026, 1, 1, 8, 3, tzinfo=UTC), 10)
    seconds = every_5s.schedules["s"].ticks(at, datetime(2026, 1, 1, 8, 0, 16, tzinfo=UTC), 2)

    assert [t.minute for t in minutes] == [1, 2, 3]
    assert [t.second for t in seconds] == [5, 10]
