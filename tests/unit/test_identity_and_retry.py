"""Event ids, trace context, CloudEvents headers and the client's backoff."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from urllib.parse import unquote

import httpx
import pytest

from conveyor.common.backoff import Backoff, parse_retry_after
from conveyor.kafka.identity import child_traceparent, cloudevent_headers, job_path, uuid7


def test_uuid7_is_a_version_7_rfc_uuid_ordered_by_time() -> None:
    ids = [uuid7() for _ in range(50)]

    parsed = [uuid.UUID(i) for i in ids]
    assert {p.version for p in parsed} == {7}
    assert {p.variant for p in parsed} == {uuid.RFC_4122}
    assert len(set(ids)) == 50
    millis = [p.int >> 80 for p in parsed]
    assert millis == sorted(millis)


def test_a_traceparent_continues_the_callers_trace_with_a_new_span() -> None:
    parent = "00-" + "4b" * 16 + "-" + "00f067aa0ba902b7" + "-01"

    child = child_traceparent(parent)

    assert child.startswith("00-" + "4b" * 16 + "-")
    assert child.split("-")[2] != "00f067aa0ba902b7"
    assert len(child_traceparent("garbage").split("-")[1]) == 32  # a fresh trace instead


def test_cloudevent_headers_share_everything_but_the_id() -> None:
    at = datetime(2026, 11, 1, 12, 0, 0, 123456, tzinfo=UTC)
    headers_of = cloudevent_headers("/v1/streams/orders", "conveyor.orders.Order", at)

    first, second = dict(headers_of("e-1", "00-x")), dict(headers_of("e-2", "00-x"))

    assert first["ce_id"] == b"e-1"
    assert second["ce_id"] == b"e-2"
    assert first["ce_time"] == b"2026-11-01T12:00:00.123Z"
    assert first["ce_type"] == b"conveyor.orders.Order"
    assert first["traceparent"] == b"00-x"
    assert {k: v for k, v in first.items() if k != "ce_id"} == {
        k: v for k, v in second.items() if k != "ce_id"
    }


def test_backoff_grows_is_capped_and_never_beats_retry_after() -> None:
    backoff = Backoff(base=0.1, cap=1.0)

    assert all(0 <= backoff.delay(0) <= 0.1 for _ in range(100))
    assert all(0 <= backoff.delay(10) <= 1.0 for _ in range(100))
    assert all(backoff.delay(0, retry_after=5) == 5 for _ in range(10))
    assert parse_retry_after("3") == 3.0
    assert parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT") is None


@pytest.mark.parametrize("event_id", ["a/b", "a?b=c", "a#b", "100%", "key:0", ".", "..", "x/../y"])
def test_a_status_url_survives_url_parsing_and_decodes_to_its_id(event_id: str) -> None:
    url = httpx.URL("http://127.0.0.1:8000" + job_path(event_id))

    assert not url.query
    assert not url.fragment
    assert unquote(url.raw_path.decode()) == "/v1/jobs/" + event_id
