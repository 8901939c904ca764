"""Pure logic of the workers: order rules, windows, failure headers, pacing."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from email import message_from_bytes, policy
from email.message import EmailMessage

import pytest

from conveyor.client.samples import sample_orders
from conveyor.common.ratelimit import TokenBucket
from conveyor.kafka.events import Consumed, accepted_at, event_from
from conveyor.kafka.headers import failure_headers
from conveyor.kafka.identity import cloudevent_headers
from conveyor.processors.exceptions import InvalidEventError
from conveyor.processors.pipeline.notifications import message_id
from conveyor.processors.pipeline.orders import enrich, window_of

PLACED = datetime(2026, 11, 1, 12, 34, 56, 789000, tzinfo=UTC)


def test_an_order_is_enriched_with_its_units_size_and_minute() -> None:
    order = sample_orders(1, PLACED, seed=3)[0]
    enriched = enrich(order)
    assert enriched["item_count"] == sum(i["quantity"] for i in order["items"])
    assert enriched["line_count"] == len(order["items"])
    assert enriched["window_start"] == datetime(2026, 11, 1, 12, 34, tzinfo=UTC)
    assert enriched["size"] in {"small", "medium", "large"}


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        ({"amount_cents": -1}, "negative"),
        ({"amount_cents": 1}, "not the sum of the lines"),
        ({"items": [{"sku": "a", "quantity": 0, "unit_price_cents": 5}]}, "positive"),
    ],
)
def test_an_order_breaking_a_rule_is_invalid_and_says_which(
    change: dict[str, object], reason: str
) -> None:
    order = {**sample_orders(1, PLACED, seed=3)[0], **change}
    with pytest.raises(InvalidEventError, match=reason):
        enrich(order)


def test_windows_are_whole_utc_minutes() -> None:
    east = PLACED.astimezone(UTC) + timedelta(seconds=3)
    assert window_of(east) == datetime(2026, 11, 1, 12, 34, tzinfo=UTC)


def test_a_retried_event_keeps_its_first_position_and_counts_its_tries() -> None:
    first = Consumed("orders", 4, 17, b"k", b"v", [("ce_id", b"e-1"), ("traceparent", b"tp")])
    event = event_from(first, {"event_id": "e-1"})
    at = datetime(2026, 11, 1, tzinfo=UTC)
    headers = failure_headers(event, 1, RuntimeError("boom"), at, at + timedelta(seconds=2))

    again = event_from(Consumed("orders.retry.1", 0, 3, b"k", b"v", headers), {"event_id": "e-1"})
    assert (again.topic, again.partition, again.offset, again.attempts) == ("orders", 4, 17, 1)
    later = failure_headers(again, 2, RuntimeError("still"), at + timedelta(seconds=5), None)
    named = dict(later)
    assert named["conveyor.first.failure"] == b"2026-11-01T00:00:00.000+00:00"
    assert named["conveyor.last.failure"] == b"2026-11-01T00:00:05.000+00:00"
    assert named["conveyor.attempts"] == b"2"
    assert "conveyor.not.before" not in named
    assert [name for name, _ in later].count("conveyor.attempts") == 1
    assert named["traceparent"] == b"tp"


def test_an_undecodable_record_is_known_by_its_ce_id_or_its_position() -> None:
    assert event_from(Consumed("t", 1, 2, None, b"x", [("ce_id", b"c")]), None).event_id == "c"
    assert event_from(Consumed("t", 1, 2, None, b"x", []), None).event_id == "t:1:2"


def test_an_event_was_accepted_when_its_ce_time_says_to_the_millisecond() -> None:
    headers = cloudevent_headers("/v1/streams/orders", "shop.Order", PLACED)("e-1", "tp")
    event = event_from(Consumed("orders", 0, 1, None, b"v", headers), {"event_id": "e-1"})

    at = accepted_at(event)
    assert at == PLACED
    assert at is not None
    assert at.utcoffset() == timedelta(0)


@pytest.mark.parametrize("ce_time", [None, b"yesterday", b"\xff"])
def test_an_event_without_a_readable_ce_time_has_no_accept_time(ce_time: bytes | None) -> None:
    headers = [] if ce_time is None else [("ce_time", ce_time)]

    assert accepted_at(event_from(Consumed("orders", 0, 1, None, b"v", headers), None)) is None


def test_reserving_past_the_burst_queues_callers_at_the_rate() -> None:
    bucket = TokenBucket(rate=10.0, burst=2, stamp=0.0)
    waits = [bucket.reserve(now=0.0) for _ in range(4)]
    assert waits == pytest.approx([0.0, 0.0, 0.1, 0.2])


@pytest.mark.parametrize(
    ("event_id", "expected"),
    [
        ("0190b8a2-7c1e-7d3f-9a4b-1c2d3e4f5a6b", "<0190b8a2-7c1e-7d3f-9a4b-1c2d3e4f5a6b@conveyor>"),
        ("nightly.digest.2026-11-22T06:00", "<nightly.digest.2026-11-22T06%3A00@conveyor>"),
        ("key:0", "<key%3A0@conveyor>"),
        ('a<b>(c)"d",e;f@g[h]%', "<a%3Cb%3E%28c%29%22d%22%2Ce%3Bf%40g%5Bh%5D%25@conveyor>"),
        (".lead..dots.", "<%2Elead%2E%2Edots%2E@conveyor>"),
        ("café", "<caf%C3%A9@conveyor>"),
    ],
)
def test_a_message_id_survives_being_sent_and_read_back(event_id: str, expected: str) -> None:
    message = EmailMessage()
    message["Message-ID"] = message_id(event_id)
    message.set_content("x")
    received = message_from_bytes(message.as_bytes(policy=policy.SMTP), policy=policy.default)

    assert message_id(event_id) == expected
    assert str(received["Message-ID"]) == expected
    assert not received["Message-ID"].defects


def test_the_events_of_one_batch_get_message_ids_of_their_own() -> None:
    ids = {message_id(f"order-42:{index}") for index in range(10)}
    assert len(ids) == 10
