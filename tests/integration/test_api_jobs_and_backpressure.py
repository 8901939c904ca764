"""Job status before any worker ran, and back pressure when workers fall behind."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable

from fastapi.testclient import TestClient

from conveyor.api import create_app
from conveyor.config import Settings
from support.events import orders_json, read_topic


def test_an_accepted_event_is_queued_with_the_events_ahead_of_it(api: TestClient) -> None:
    orders = orders_json(3)
    for order in orders:
        order["customer_id"] = "c-same"  # one key: one partition, in this order

    receipts = [api.post("/v1/streams/orders/events", json=o).json() for o in orders]
    jobs = [api.get(r["status_url"]) for r in receipts]

    assert [j.status_code for j in jobs] == [200, 200, 200]
    assert [j.json()["status"] for j in jobs] == ["queued"] * 3
    assert [j.json()["ahead"] for j in jobs] == [0, 1, 2]
    assert jobs[2].json()["partition"] == receipts[2]["partition"]
    assert jobs[2].json()["stream"] == "orders"


def test_an_unknown_event_id_is_404(api: TestClient) -> None:
    response = api.get("/v1/jobs/never-accepted")

    assert response.status_code == 404
    assert "never-accepted" in response.json()["detail"]


def test_job_status_survives_the_api_restarting(stack_settings: Callable[..., Settings]) -> None:
    settings = stack_settings()
    with TestClient(create_app(settings)) as first:
        receipt = first.post("/v1/streams/orders/events", json=orders_json(1)[0]).json()

    with TestClient(create_app(settings)) as second:
        job = second.get(receipt["status_url"])

    assert job.status_code == 200
    assert job.json()["offset"] == receipt["offset"]


def test_with_no_workers_a_small_backlog_turns_into_503_and_nothing_is_lost(
    stack_settings: Callable[..., Settings],
) -> None:
    settings = stack_settings(api={"lag_interval_seconds": 0.1}, orders={"max_backlog": 20})
    statuses: Counter[int] = Counter()
    accepted: list[str] = []
    refused = None
    with TestClient(create_app(settings)) as client:
        for order in orders_json(200):
            response = client.post("/v1/streams/orders/events", json=order)
            statuses[response.status_code] += 1
            if response.status_code == 202:
                accepted.append(response.json()["event_id"])
            elif response.status_code == 503:
                refused = response
                break

    assert refused is not None, statuses
    assert refused.headers["Retry-After"] == "5"
    assert "over its max_backlog of 20" in refused.json()["detail"]
    assert len(accepted) > 20
    records = read_topic(settings, settings.streams["orders"].topic, len(accepted))
    assert Counter(r["value"]["event_id"] for r in records) == Counter(accepted)
