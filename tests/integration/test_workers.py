"""The reference pipeline end to end: API → Kafka → workers → result store, outputs, e-mail."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Mapping, Sequence
from contextlib import AbstractContextManager
from datetime import datetime
from pathlib import Path
from typing import Any

from fastapi.testclient import TestClient

from conveyor.api import create_app
from conveyor.config import Settings
from conveyor.processors.pipeline.notifications import message_id
from support.events import orders_json, read_all, read_topic
from support.waiting import wait_for
from support.workers import Pipeline, job_statuses, outbox_size, running_workers


def _post(pipeline: Pipeline, stream: str, events: Sequence[Mapping[str, object]]) -> list[str]:
    ids = []
    for start in range(0, len(events), 500):
        response = pipeline.api.post(
            f"/v1/streams/{stream}/events", json=events[start : start + 500]
        )
        assert response.status_code == 202, response.text
        ids += [r["event_id"] for r in response.json()["events"]]
    return ids


def _notifications(count: int) -> list[dict[str, object]]:
    return [
        {"recipient": f"user{n}@example.test", "subject": f"hello {n}", "body": f"message {n}"}
        for n in range(count)
    ]


def _settled(pipeline: Pipeline, count: int) -> None:
    wait_for(
        lambda: (
            sum(
                n
                for s, n in job_statuses(pipeline.settings).items()
                if s not in {"queued", "processing"}
            )
            >= count
            and outbox_size(pipeline.settings) == 0
        ),
        timeout=120,
        what=f"{count} jobs settled and published",
    )


def _orders_applied_once(
    pipeline: Pipeline, orders: Sequence[Mapping[str, object]], ids: list[str]
) -> None:
    """Each order enriched once on ``orders.enriched`` (read_committed), and the revenue
    topic's last total of every window is the sum of its orders."""
    outputs = pipeline.settings.streams["orders"].outputs
    enriched = read_all(pipeline.settings, outputs["enriched"].topic)
    assert sorted(r["headers"]["ce_id"].decode() for r in enriched) == sorted(ids)
    assert {r["value"]["event_id"] for r in enriched} == set(ids)

    expected: dict[tuple[str, datetime], int] = defaultdict(int)
    for order in orders:
        placed = datetime.fromisoformat(str(order["placed_at"]))
        expected[(str(order["region"]), placed.replace(second=0, microsecond=0))] += int(
            str(order["amount_cents"])
        )
    latest: dict[str, dict[str, object]] = {}
    revenue = read_all(pipeline.settings, outputs["revenue"].topic)
    for record in sorted(revenue, key=lambda r: (r["partition"], r["offset"])):
        latest[record["key"]] = record["value"]
    totals = {(str(v["region"]), v["window_start"]): v["revenue_cents"] for v in latest.values()}
    assert totals == dict(expected)
    assert len({r["headers"]["ce_id"] for r in revenue}) == len(revenue)


def test_5000_orders_are_enriched_once_and_revenue_per_minute_adds_up(pipeline: Pipeline) -> None:
    orders = orders_json(5_000, seed=41)
    ids = _post(pipeline, "orders", orders)
    _settled(pipeline, 5_000)

    assert job_statuses(pipeline.settings) == {"succeeded": 5_000}
    _orders_applied_once(pipeline, orders, ids)
    for event_id in ids[::1_000]:
        job = pipeline.api.get(f"/v1/jobs/{event_id}").json()
        # Never claimed (a pure handler's), each job still says when and where it ran.
        assert job["started_at"]
        assert job["worker"].rpartition(":")[2].isdigit()


def test_each_notification_is_one_email_with_its_event_id(pipeline: Pipeline) -> None:
    ids = _post(pipeline, "notifications", _notifications(40))
    # A batch named by an Idempotency-Key: its events' ids are "promo-7:0" and so on.
    keyed = pipeline.api.post(
        "/v1/streams/notifications/events",
        json=_notifications(3),
        headers={"Idempotency-Key": "promo-7"},
    )
    assert keyed.status_code == 202, keyed.text
    ids += [r["event_id"] for r in keyed.json()["events"]]
    _settled(pipeline, 43)

    assert job_statuses(pipeline.settings) == {"succeeded": 43}
    received = [m["Message-ID"] for m in pipeline.mail.messages()]
    assert sorted(received) == sorted(message_id(i) for i in ids)
    assert len(set(received)) == 43
    assert "<promo-7%3A2@conveyor>" in received
    job = pipeline.api.get(f"/v1/jobs/{ids[0]}").json()
    assert job["status"] == "succeeded"
    assert job["result"]["message_id"] == message_id(ids[0])


def test_on_postgresql_orders_and_notifications_are_applied_once(
    make_pipeline: Callable[..., AbstractContextManager[Pipeline]], postgres_url: str
) -> None:
    with make_pipeline(database_url=postgres_url) as pipeline:
        orders = orders_json(1_000, seed=43)
        order_ids = _post(pipeline, "orders", orders)
        note_ids = _post(pipeline, "notifications", _notifications(20))
        _settled(pipeline, 1_020)

        assert job_statuses(pipeline.settings) == {"succeeded": 1_020}
        _orders_applied_once(pipeline, orders, order_ids)
        received = [m["Message-ID"] for m in pipeline.mail.messages()]
        assert sorted(received) == sorted(message_id(i) for i in note_ids)
        order = pipeline.api.get(f"/v1/jobs/{order_ids[0]}").json()
        assert (order["status"], set(order["result"])) == (
            "succeeded",
            {"size", "item_count", "window_start"},
        )
        assert order["accepted_at"].endswith("+00:00")
        note = pipeline.api.get(f"/v1/jobs/{note_ids[0]}").json()
        assert (note["status"], note["result"]["message_id"]) == (
            "succeeded",
            message_id(note_ids[0]),
        )


def test_a_new_result_store_under_an_old_group_still_gets_its_outputs_published(
    stack_settings: Callable[..., Settings], tmp_path: Path
) -> None:
    # The relay's progress is the group's, and counts a store's outbox seqs: a new store
    # starts its seqs again at 1, below that progress.
    first = stack_settings()
    second = first.model_copy(update={"database_url": f"sqlite:///{tmp_path / 'second.db'}"})
    topic = first.streams["orders"].outputs["enriched"].topic
    posted: list[str] = []
    for n, config in enumerate((first, second)):
        (tmp_path / f"{n}").mkdir()
        with TestClient(create_app(config)) as api, running_workers(config, tmp_path / f"{n}"):
            orders = orders_json(20, seed=30 + n)
            assert api.post("/v1/streams/orders/events", json=orders).status_code == 202
            posted += [o["event_id"] for o in orders]
            published = {_ce_id(r) for r in read_topic(config, topic, len(posted))}

    assert published == set(posted)


def _ce_id(record: Mapping[str, Any]) -> str:
    return bytes(record["headers"]["ce_id"]).decode()
