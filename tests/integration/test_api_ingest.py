"""Events posted over HTTP land on Kafka as Avro, keyed, with their headers, exactly as posted."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

import pytest
from fastapi.testclient import TestClient

from conveyor.config import Settings
from support.events import orders_json, read_topic


def as_posted(value: dict[str, Any]) -> dict[str, Any]:
    return {**value, "placed_at": value["placed_at"].isoformat()}


def test_one_object_is_accepted_with_a_receipt_and_lands_on_kafka_as_posted(
    api: TestClient,
) -> None:
    settings: Settings = api.app.state.conveyor.settings  # type: ignore[attr-defined]
    order = orders_json(1)[0]

    response = api.post(
        "/v1/streams/orders/events",
        json=order,
        headers={"traceparent": "00-" + "a" * 32 + "-" + "b" * 16 + "-01"},
    )

    assert response.status_code == 202, response.text
    receipt = response.json()
    assert receipt["event_id"] == order["event_id"]
    assert receipt["status_url"] == f"/v1/jobs/{order['event_id']}"
    topic = settings.streams["orders"].topic
    (record,) = read_topic(settings, topic, 1)
    assert (record["partition"], record["offset"]) == (receipt["partition"], receipt["offset"])
    assert receipt["topic"] == topic
    assert record["key"] == order["customer_id"]
    assert as_posted(record["value"]) == order
    headers = record["headers"]
    assert headers["ce_id"] == order["event_id"].encode()
    assert headers["ce_type"] == b"conveyor.orders.Order"
    assert headers["ce_source"] == b"/v1/streams/orders"
    assert headers["ce_specversion"] == b"1.0"
    assert datetime.fromisoformat(headers["ce_time"].decode()).tzinfo is not None
    assert headers["traceparent"].decode().startswith("00-" + "a" * 32 + "-")


@pytest.mark.parametrize("form", ["array", "ndjson"])
def test_a_batch_is_accepted_in_order_and_every_event_lands_once(
    api: TestClient, form: str
) -> None:
    settings: Settings = api.app.state.conveyor.settings  # type: ignore[attr-defined]
    orders = orders_json(50, seed=len(form))
    if form == "array":
        response = api.post("/v1/streams/orders/events", json=orders)
    else:
        body = "\n".join(json.dumps(o) for o in orders) + "\n"
        response = api.post(
            "/v1/streams/orders/events",
            content=body,
            headers={"content-type": "application/x-ndjson"},
        )

    assert response.status_code == 202, response.text
    receipts = response.json()["events"]
    assert [r["event_id"] for r in receipts] == [o["event_id"] for o in orders]
    records = read_topic(settings, settings.streams["orders"].topic, 50)
    assert len(records) == 50
    by_id = {r["value"]["event_id"]: r for r in records}
    for order, receipt in zip(orders, receipts, strict=True):
        record = by_id[order["event_id"]]
        assert as_posted(record["value"]) == order
        assert (record["partition"], record["offset"]) == (receipt["partition"], receipt["offset"])


def test_events_without_an_id_get_a_uuid7_or_the_idempotency_key(api: TestClient) -> None:
    order = orders_json(1)[0]
    del order["event_id"]

    generated = api.post("/v1/streams/orders/events", json=order).json()["event_id"]
    keyed = api.post(
        "/v1/streams/orders/events", json=order, headers={"Idempotency-Key": "retry-me-1"}
    )
    retried = api.post(
        "/v1/streams/orders/events", json=order, headers={"Idempotency-Key": "retry-me-1"}
    )
    batch = api.post(
        "/v1/streams/orders/events", json=[order, order], headers={"Idempotency-Key": "batch-7"}
    )

    assert generated[14] == "7"  # the UUID version digit
    assert keyed.json()["event_id"] == retried.json()["event_id"] == "retry-me-1"
    assert [e["event_id"] for e in batch.json()["events"]] == ["batch-7:0", "batch-7:1"]


def test_the_same_request_sent_again_under_its_key_keeps_its_ids_in_either_form(
    api: TestClient,
) -> None:
    orders = orders_json(3, seed=9)
    for order in orders:
        del order["event_id"]
    keyed = {"Idempotency-Key": "resend-3"}

    array = api.post("/v1/streams/orders/events", json=orders, headers=keyed)
    lines = api.post(
        "/v1/streams/orders/events",
        content="\n".join(json.dumps(o, sort_keys=True) for o in orders),
        headers={**keyed, "content-type": "application/x-ndjson"},
    )

    assert array.status_code == lines.status_code == 202, lines.text
    ids = ["resend-3:0", "resend-3:1", "resend-3:2"]
    assert [e["event_id"] for e in array.json()["events"]] == ids
    assert [e["event_id"] for e in lines.json()["events"]] == ids
