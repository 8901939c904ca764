"""Where the API sends each event: its level's topic, or a delay tier with its time."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from conveyor.api.exceptions import InvalidEventsError
from conveyor.api.routing import EventRouter
from conveyor.config import load_streams
from conveyor.config.streams import parse_stream

PLAIN = load_streams()["notifications"]
STREAM = parse_stream(
    "notifications",
    {
        **PLAIN.model_dump(by_alias=True),
        "priorities": {"levels": ["high", "normal", "low"], "default": "normal"},
        "delays": ["1s", "10s", "1m"],
    },
)
NOW = datetime(2026, 11, 22, 10, 0, tzinfo=UTC)


def note(**routing: Any) -> dict[str, Any]:
    return {"recipient": "r@example.test", "subject": "hi", "body": "b", **routing}


def test_events_go_to_their_levels_and_lose_the_routing_field() -> None:
    events = [note(priority="high"), note(), note(priority="low")]

    routes = EventRouter(STREAM).route(events, None, None, NOW.timestamp())

    assert routes == [
        ("notifications.priority.high", []),
        ("notifications", []),
        ("notifications.priority.low", []),
    ]
    assert all("priority" not in event for event in events)


def test_the_header_sets_the_level_of_events_without_their_own() -> None:
    routes = EventRouter(STREAM).route(
        [note(), note(priority="normal")], "low", None, NOW.timestamp()
    )

    assert [topic for topic, _ in routes or []] == ["notifications.priority.low", "notifications"]


def test_a_future_not_before_waits_on_a_tier_and_rides_in_a_header() -> None:
    due = NOW + timedelta(seconds=42)
    events = [note(not_before=due, priority="high")]

    routes = EventRouter(STREAM).route(events, None, None, NOW.timestamp())

    assert routes == [
        (
            "notifications.delay.10s",
            [("conveyor.not.before", str(int(due.timestamp() * 1000)).encode())],
        )
    ]
    assert "not_before" not in events[0]


def test_a_not_before_already_past_goes_straight_to_its_level() -> None:
    routes = EventRouter(STREAM).route(
        [note(), note()], "high", (NOW - timedelta(seconds=1)).isoformat(), NOW.timestamp()
    )

    assert routes == [("notifications.priority.high", [])] * 2


def test_a_stream_without_levels_or_delays_is_not_routed() -> None:
    assert EventRouter(PLAIN).route([note()], None, None, NOW.timestamp()) is None


@pytest.mark.parametrize(
    ("stream", "priority", "not_before", "reason"),
    [
        (STREAM, "urgent", None, "unknown level 'urgent'; levels: 'high', 'normal', 'low'"),
        (STREAM, None, "tomorrow", "'tomorrow' is not an RFC 3339 time with an offset"),
        (STREAM, None, "1764583200", "'1764583200' is not an RFC 3339 time with an offset"),
        (STREAM, None, "2026-11-22T10:00:00", "with an offset"),
        (PLAIN, "high", None, "stream 'notifications' declares no priorities"),
        (PLAIN, None, "2026-11-22T10:00:00Z", "stream 'notifications' declares no delays"),
    ],
)
def test_a_routing_header_that_cannot_be_followed_is_a_422_naming_the_header(
    stream: Any, priority: str | None, not_before: str | None, reason: str
) -> None:
    with pytest.raises(InvalidEventsError) as refused:
        EventRouter(stream).route([note()], priority, not_before, NOW.timestamp())

    (problem,) = refused.value.detail
    assert problem["loc"][0] == "header"
    assert reason in problem["msg"]
