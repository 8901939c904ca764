"""Every refusal says why, and nothing of a refused request reaches Kafka."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from typing import Any

import pytest
from fastapi.testclient import TestClient

from conveyor.api import create_app
from conveyor.api.auth import hash_key
from conveyor.api.idempotency import KEY_REUSED
from conveyor.config import ApiKey, Settings
from support.events import orders_json
from support.kafka import end_offsets


@contextmanager
def running(settings: Settings) -> Iterator[TestClient]:
    with TestClient(create_app(settings)) as client:
        yield client


@pytest.fixture
def untouched(api: TestClient) -> Iterator[None]:
    """Asserts, after the test, that the orders topic did not move."""
    settings: Settings = api.app.state.conveyor.settings  # type: ignore[attr-defined]
    topic = settings.streams["orders"].topic
    before = end_offsets(settings.kafka.bootstrap_servers, topic)
    yield
    assert end_offsets(settings.kafka.bootstrap_servers, topic) == before


@pytest.mark.usefixtures("untouched")
def test_invalid_events_get_422_naming_every_item_field_and_reason(api: TestClient) -> None:
    good, bad_region, bad_amount = orders_json(3)
    bad_region["region"] = "mars"
    bad_amount["amount_cents"] = "12"
    del bad_amount["customer_id"]

    response = api.post("/v1/streams/orders/events", json=[good, bad_region, bad_amount])

    assert response.status_code == 422
    problems = {(p["index"], tuple(p["loc"])): p for p in response.json()["detail"]}
    assert set(problems) == {(1, ("region",)), (2, ("amount_cents",)), (2, ("customer_id",))}
    assert "'eu', 'na', 'apac' or 'latam'" in problems[(1, ("region",))]["msg"]
    assert problems[(2, ("customer_id",))]["msg"] == "Field required"


@pytest.mark.usefixtures("untouched")
@pytest.mark.parametrize(
    ("body", "content_type", "expected"),
    [
        (b"{not json", "application/json", "Invalid JSON"),
        (b'"a string"', "application/json", "expected a JSON object or an array"),
        (b"[]", "application/json", "no events in the request body"),
        (b'{"event_id": "x"}\nnot json\n', "application/x-ndjson", "Invalid JSON"),
    ],
)
def test_bodies_that_are_not_events_get_422(
    api: TestClient, body: bytes, content_type: str, expected: str
) -> None:
    response = api.post(
        "/v1/streams/orders/events", content=body, headers={"content-type": content_type}
    )

    assert response.status_code == 422
    assert expected in json.dumps(response.json()["detail"])


@pytest.mark.usefixtures("untouched")
def test_an_event_nested_field_error_has_its_full_path(api: TestClient) -> None:
    order = orders_json(1)[0]
    order["items"][0]["quantity"] = 2**40

    response = api.post("/v1/streams/orders/events", json=order)

    assert response.status_code == 422
    (problem,) = response.json()["detail"]
    assert problem["loc"] == ["items", 0, "quantity"]
    assert "index" not in problem  # a single object has no index


@pytest.mark.usefixtures("untouched")
def test_two_events_of_one_batch_may_not_share_an_event_id(api: TestClient) -> None:
    first, second = orders_json(2)
    second["event_id"] = first["event_id"]

    response = api.post("/v1/streams/orders/events", json=[first, second])

    assert response.status_code == 422
    assert response.json()["detail"][0]["index"] == 1


@pytest.mark.usefixtures("untouched")
@pytest.mark.parametrize("placed_at", ["1764583200", 1764583200, 1764583200000])
def test_a_time_given_as_a_number_is_422_rather_than_guessed(
    api: TestClient, placed_at: Any
) -> None:
    order = {**orders_json(1)[0], "placed_at": placed_at}

    response = api.post("/v1/streams/orders/events", json=order)

    assert response.status_code == 422
    (problem,) = response.json()["detail"]
    assert problem["loc"] == ["placed_at"]
    assert "RFC 3339 time with an offset" in problem["msg"]


@pytest.mark.usefixtures("untouched")
@pytest.mark.parametrize(
    "key", [b"with space", b"tab\there", b"k" * 300, "cl\u00e9".encode()], ids=str
)
def test_an_idempotency_key_no_event_id_could_be_is_422_naming_the_header(
    api: TestClient, key: bytes
) -> None:
    order = orders_json(1)[0]
    del order["event_id"]

    response = api.post("/v1/streams/orders/events", json=order, headers={b"Idempotency-Key": key})

    assert response.status_code == 422
    (problem,) = response.json()["detail"]
    assert problem["loc"] == ["header", "Idempotency-Key"]
    assert set(problem) == {"loc", "msg", "type"}


def unkeyed_orders(count: int, seed: int) -> list[dict[str, Any]]:
    orders = orders_json(count, seed=seed)
    for order in orders:
        del order["event_id"]
    return orders


def test_a_key_sent_again_with_another_request_is_422_and_nothing_of_it_lands(
    api: TestClient,
) -> None:
    settings: Settings = api.app.state.conveyor.settings  # type: ignore[attr-defined]
    first, other = unkeyed_orders(2, seed=5)
    note = {"recipient": "a@example.test", "subject": "s", "body": "b"}
    keyed = {"Idempotency-Key": "order-77"}
    accepted = api.post("/v1/streams/orders/events", json=first, headers=keyed)
    before = end_offsets(settings.kafka.bootstrap_servers, settings.streams["orders"].topic)

    changed = api.post("/v1/streams/orders/events", json=other, headers=keyed)
    as_batch = api.post("/v1/streams/orders/events", json=[first, other], headers=keyed)
    elsewhere = api.post("/v1/streams/notifications/events", json=note, headers=keyed)

    assert accepted.status_code == 202, accepted.text
    for refused in (changed, as_batch, elsewhere):
        assert refused.status_code == 422
        (problem,) = refused.json()["detail"]
        assert problem["loc"] == ["header", "Idempotency-Key"]
        assert problem["type"] == KEY_REUSED
    assert "to stream 'orders'" in elsewhere.json()["detail"][0]["msg"]
    after = end_offsets(settings.kafka.bootstrap_servers, settings.streams["orders"].topic)
    assert after == before


def test_of_requests_racing_under_one_key_to_two_apis_on_one_store_one_is_accepted(
    stack_settings: Callable[..., Settings],
) -> None:
    settings = stack_settings()
    topic = settings.streams["orders"].topic
    orders = unkeyed_orders(8, seed=6)
    before = end_offsets(settings.kafka.bootstrap_servers, topic)
    with running(settings) as one, running(settings) as other:
        post: Callable[[int], Any] = lambda n: (one if n % 2 else other).post(  # noqa: E731
            "/v1/streams/orders/events", json=orders[n], headers={"Idempotency-Key": "race-1"}
        )
        with ThreadPoolExecutor(len(orders)) as pool:
            responses = list(pool.map(post, range(len(orders))))

    statuses = sorted(r.status_code for r in responses)
    assert statuses == [202] + [422] * (len(orders) - 1)
    after = end_offsets(settings.kafka.bootstrap_servers, topic)
    assert sum(after.values()) - sum(before.values()) == 1


def test_too_many_events_or_bytes_get_413_with_the_limit(
    stack_settings: Callable[..., Settings],
) -> None:
    settings = stack_settings(api={"max_batch_items": 5, "max_body_bytes": 4_000})
    topic = settings.streams["orders"].topic
    before = end_offsets(settings.kafka.bootstrap_servers, topic)
    with running(settings) as client:
        many = client.post("/v1/streams/orders/events", json=orders_json(6))
        big = client.post(
            "/v1/streams/orders/events",
            content=b"[" + b" " * 5_000 + b"]",
            headers={"content-type": "application/json"},
        )

    assert many.status_code == 413
    assert "limit is 5" in many.json()["detail"]
    assert big.status_code == 413
    assert "limit is 4000 bytes" in big.json()["detail"]
    assert end_offsets(settings.kafka.bootstrap_servers, topic) == before


@pytest.mark.usefixtures("untouched")
def test_an_unknown_stream_is_404_and_other_media_types_are_415(api: TestClient) -> None:
    unknown = api.post("/v1/streams/nope/events", json=orders_json(1)[0])
    xml = api.post(
        "/v1/streams/orders/events",
        content=b"<order/>",
        headers={"content-type": "application/xml"},
    )

    assert unknown.status_code == 404
    assert "unknown stream 'nope'" in unknown.json()["detail"]
    assert xml.status_code == 415


def test_keys_scopes_and_rates_give_401_403_and_429(
    stack_settings: Callable[..., Settings],
) -> None:
    keys = (
        ApiKey(
            name="shop",
            sha256=hash_key("shop-secret-key"),
            streams=("orders",),
            rate_per_second=0.01,
            burst=2,
        ),
        ApiKey(name="mailer", sha256=hash_key("mailer-secret-key"), streams=("notifications",)),
    )
    settings = stack_settings(api={"keys": keys})
    order = orders_json(1)[0]
    topic = settings.streams["orders"].topic
    before = end_offsets(settings.kafka.bootstrap_servers, topic)
    with running(settings) as client:
        post: Callable[..., Any] = lambda key: client.post(  # noqa: E731
            "/v1/streams/orders/events",
            json=order,
            headers={"Authorization": f"Bearer {key}"} if key else {},
        )
        missing = post(None)
        wrong = post("not-a-key")
        scope = post("mailer-secret-key")
        accepted = post("shop-secret-key")
        second = post("shop-secret-key")
        over = post("shop-secret-key")

    assert missing.status_code == 401
    assert missing.headers["WWW-Authenticate"].startswith("Bearer")
    assert wrong.status_code == 401
    assert scope.status_code == 403
    assert "'mailer' is not allowed to use stream 'orders'" in scope.json()["detail"]
    assert accepted.status_code == second.status_code == 202
    assert over.status_code == 429
    assert int(over.headers["Retry-After"]) >= 1
    # Only the two requests within the burst reached Kafka.
    after = end_offsets(settings.kafka.bootstrap_servers, topic)
    assert sum(after.values()) - sum(before.values()) == 2


def test_a_full_producer_buffer_gets_503_with_retry_after(
    stack_settings: Callable[..., Settings],
) -> None:
    settings = stack_settings(api={"max_in_flight": 1})
    topic = settings.streams["orders"].topic
    before = end_offsets(settings.kafka.bootstrap_servers, topic)
    with running(settings) as client:
        response = client.post("/v1/streams/orders/events", json=orders_json(2))

    assert response.status_code == 503
    assert response.headers["Retry-After"] == "1"
    assert "buffer is full" in response.json()["detail"]
    assert end_offsets(settings.kafka.bootstrap_servers, topic) == before
