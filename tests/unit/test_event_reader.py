"""Reading request bodies into events: one object, arrays, NDJSON, and every refusal."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import pytest

from conveyor.api.body import NDJSON, EventReader
from conveyor.api.exceptions import InvalidEventsError, TooLargeError, UnsupportedMediaTypeError
from conveyor.config import load_streams
from conveyor.schemas.models import event_type

NOTIFICATIONS = event_type(load_streams()["notifications"])
SENT = datetime(2026, 11, 1, 12, 0, tzinfo=UTC)


def note(n: int) -> dict[str, Any]:
    return {"recipient": f"r{n}@example.test", "subject": "hi", "body": f"message {n}"}


@pytest.fixture
def reader() -> EventReader:
    return EventReader(NOTIFICATIONS, max_items=3)


def test_one_object_is_not_a_batch(reader: EventReader) -> None:
    parsed = reader.read(json.dumps(note(1)).encode(), "application/json; charset=utf-8")

    assert parsed.batch is False
    assert parsed.events == [note(1)]


def test_arrays_and_ndjson_are_batches_in_order(reader: EventReader) -> None:
    array = reader.read(json.dumps([note(1), note(2)]).encode(), "application/json")
    lines = reader.read(b"\n".join(json.dumps(note(n)).encode() for n in (1, 2, 3)), NDJSON)

    assert array.batch
    assert array.events == [note(1), note(2)]
    assert lines.events == [note(1), note(2), note(3)]


def test_every_bad_item_is_reported_with_its_index_and_field(reader: EventReader) -> None:
    bad = [note(1), {**note(2), "subject": 7}, {"recipient": "x", "body": "y", "extra": 1}]

    with pytest.raises(InvalidEventsError) as refused:
        reader.read(json.dumps(bad).encode(), "application/json")

    problems = {(p["index"], tuple(p["loc"]), p["type"]) for p in refused.value.detail}
    assert problems == {
        (1, ("subject",), "string_type"),
        (2, ("subject",), "missing"),
        (2, ("extra",), "extra_forbidden"),
    }


def test_strict_types_refuse_what_lax_parsing_would_coerce(reader: EventReader) -> None:
    with pytest.raises(InvalidEventsError):
        reader.read(b'{"recipient": "a", "subject": "s", "body": 12}', "application/json")


def test_a_number_without_a_fraction_is_an_integer_but_a_fraction_or_string_is_not() -> None:
    orders = EventReader(event_type(load_streams()["orders"]), max_items=3)
    order = {
        "order_id": "o-1",
        "customer_id": "c-1",
        "region": "eu",
        "amount_cents": 2_010_479.0,
        "items": [{"sku": "s", "quantity": 1.0, "unit_price_cents": 2_010_479}],
        "placed_at": "2026-11-01T12:00:00Z",
    }

    (event,) = orders.read(json.dumps(order).encode(), "application/json").events

    assert event["amount_cents"] == 2_010_479
    assert type(event["amount_cents"]) is int
    assert type(event["items"][0]["quantity"]) is int
    for refused in (12.5, "12", 2.0**70):
        with pytest.raises(InvalidEventsError) as problems:
            orders.read(json.dumps({**order, "amount_cents": refused}).encode(), "application/json")
        assert [p["loc"] for p in problems.value.detail] == [["amount_cents"]]


def test_too_many_events_is_413_not_422(reader: EventReader) -> None:
    body = json.dumps([note(n) for n in range(4)]).encode()

    with pytest.raises(TooLargeError, match="the limit is 3"):
        reader.read(body, "application/json")
    with pytest.raises(TooLargeError, match="4 events in one request; the limit is 3"):
        reader.read(body.replace(b"}, {", b"}\n{")[1:-1], NDJSON)


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        (b"", "no events"),
        (b"[]", "no events"),
        (b"42", "expected a JSON object or an array"),
        (b"{oops", "Invalid JSON"),
    ],
)
def test_bodies_without_events_are_refused_with_the_reason(
    reader: EventReader, body: bytes, reason: str
) -> None:
    with pytest.raises(InvalidEventsError) as refused:
        reader.read(body, "application/json")

    assert reason in refused.value.detail[0]["msg"]


def test_other_media_types_are_415(reader: EventReader) -> None:
    with pytest.raises(UnsupportedMediaTypeError, match="text/csv"):
        reader.read(b"a,b", "text/csv")


ORDER = {"order_id": "o", "customer_id": "c", "region": "eu", "amount_cents": 1}


@pytest.mark.parametrize(
    "placed_at",
    [
        "1764583200",
        1764583200,
        1764583200000,
        "1764583200000",
        1764583200.5,
        "2026-11-01T12:00:00",
        "2026-11-01T12:00Z",
        "2026-11-01T12:00:00+0100",
        "2026-11-01",
        None,
    ],
)
def test_a_time_is_refused_unless_an_rfc3339_string_with_an_offset(placed_at: Any) -> None:
    orders = EventReader(event_type(load_streams()["orders"]), max_items=10)

    with pytest.raises(InvalidEventsError) as refused:
        orders.read(json.dumps({**ORDER, "placed_at": placed_at}).encode(), "application/json")

    (problem,) = refused.value.detail
    assert problem["loc"] == ["placed_at"]
    assert "RFC 3339 time with an offset" in problem["msg"]


@pytest.mark.parametrize(
    "placed_at",
    [
        "2026-11-01T12:00:00Z",
        "2026-11-01t13:00:00.000+01:00",
        SENT.isoformat(),  # samples and `conveyor send` files
        str(SENT),  # the Python client's json.dumps(default=str)
    ],
)
def test_rfc3339_times_are_taken_as_clients_write_them(placed_at: str) -> None:
    orders = EventReader(event_type(load_streams()["orders"]), max_items=10)

    body = json.dumps({**ORDER, "placed_at": placed_at}).encode()
    (event,) = orders.read(body, "application/json").events

    assert event["placed_at"] == SENT
