"""The Idempotency-Key header: checked as an event_id, and a request's fingerprint."""

from __future__ import annotations

from typing import Any

import pytest
from starlette.datastructures import Headers

from conveyor.api.exceptions import InvalidEventsError
from conveyor.api.idempotency import (
    KEY_TOO_LONG_FOR_BATCH,
    fingerprint,
    request_key,
)


def headers(key: bytes | None = None, **more: str) -> Headers:
    raw = [(name.replace("_", "-").encode(), value.encode()) for name, value in more.items()]
    if key is not None:
        raw.append((b"idempotency-key", key))
    return Headers(raw=raw)


@pytest.mark.parametrize(
    ("key", "kind"),
    [
        (b"with space", "string_pattern_mismatch"),
        (b"tab\there", "string_pattern_mismatch"),
        ("clé".encode(), "string_pattern_mismatch"),  # UTF-8 (read as Latin-1 by Starlette)
        (b"k" * 129, "string_too_long"),
        (b"k" * 300, "string_too_long"),
        (b"", "string_too_short"),
    ],
)
def test_a_key_an_event_id_could_not_be_is_refused_naming_the_header(key: bytes, kind: str) -> None:
    with pytest.raises(InvalidEventsError) as refused:
        request_key(headers(key), 1)

    (problem,) = refused.value.detail
    assert problem["loc"] == ["header", "Idempotency-Key"]
    assert problem["type"] == kind
    assert "index" not in problem


def test_a_key_is_an_event_id_and_leaves_room_for_the_index_in_a_batch() -> None:
    longest = "k" * 128

    assert request_key(headers(), 3) is None
    assert request_key(headers(b"!~:/?#%"), 1) == "!~:/?#%"
    assert request_key(headers(longest.encode()), 1) == longest
    assert request_key(headers(b"k" * 126), 10) == "k" * 126  # k…k:9 is 128
    with pytest.raises(InvalidEventsError) as refused:
        request_key(headers(b"k" * 126), 11)
    (problem,) = refused.value.detail
    assert problem["type"] == KEY_TOO_LONG_FOR_BATCH
    assert "129 characters" in problem["msg"]


ORDER: dict[str, Any] = {"order_id": "o-1", "customer_id": "c-1", "amount_cents": 5}


def test_a_request_is_the_same_whatever_its_field_order_but_not_its_content_or_route() -> None:
    same = fingerprint("orders", [ORDER], headers())

    assert fingerprint("orders", [dict(reversed(ORDER.items()))], headers()) == same
    assert fingerprint("orders", [{**ORDER, "amount_cents": 6}], headers()) != same
    assert fingerprint("notifications", [ORDER], headers()) != same
    assert fingerprint("orders", [ORDER, ORDER], headers()) != same
    assert fingerprint("orders", [ORDER], headers(conveyor_priority="high")) != same
