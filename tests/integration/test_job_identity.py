"""One id, one job: an ``event_id`` used on two streams is applied on one and recorded as a
copy on the other; and a job's place and accept time never change once shown."""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import AbstractContextManager
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import create_engine, select

from conveyor.config import Settings
from conveyor.store import JobStore
from conveyor.store.search import JobQuery, search_jobs
from conveyor.store.tables import job_copies, jobs
from support.events import orders_json, read_all
from support.waiting import wait_for
from support.workers import Pipeline, outbox_size

PAIRS = 200


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'store.db'}"
    return str(request.getfixturevalue("postgres_url"))


def _owners(settings: Settings) -> tuple[dict[str, tuple[str, str]], dict[str, list[str]]]:
    """Each job's (stream, status), and the streams of each id's copies."""
    engine = create_engine(settings.database_url)
    try:
        with engine.connect() as conn:
            owned = {
                i: (s, st)
                for i, s, st in conn.execute(select(jobs.c.event_id, jobs.c.stream, jobs.c.status))
            }
            copied: dict[str, list[str]] = {}
            for event_id, stream in conn.execute(
                select(job_copies.c.event_id, job_copies.c.stream)
            ):
                copied.setdefault(event_id, []).append(stream)
            return owned, copied
    finally:
        engine.dispose()


def _post_pairs_at_once(pipeline: Pipeline, keys: list[str]) -> None:
    """For each key an order and a notification with it as their ``event_id``, the two
    posts of a pair let go together. (Under one Idempotency-Key the API itself refuses the
    second request, a different one, with 422: the race is the workers' to settle only
    when the id comes in the events.)"""
    orders = orders_json(len(keys), seed=61)
    posts: list[tuple[str, dict[str, Any], threading.Barrier]] = []
    for n, (key, order) in enumerate(zip(keys, orders, strict=True)):
        order["event_id"] = key
        note = {
            "event_id": key,
            "recipient": f"user{n}@example.test",
            "subject": f"hi {n}",
            "body": f"body {n}",
        }
        together = threading.Barrier(2)
        posts += [("orders", order, together), ("notifications", note, together)]

    def post(stream: str, event: dict[str, Any], together: threading.Barrier) -> int:
        together.wait(timeout=60)
        return pipeline.api.post(f"/v1/streams/{stream}/events", json=event).status_code

    # Pairs are queued side by side, so at most one pair is ever half taken by the pool.
    with ThreadPoolExecutor(16) as pool:
        statuses = Counter(pool.map(lambda p: post(*p), posts))
    assert statuses == {202: 2 * len(keys)}


def test_an_id_posted_on_two_streams_at_once_is_applied_once_and_recorded_once_as_a_copy(
    make_pipeline: Callable[..., AbstractContextManager[Pipeline]], database_url: str
) -> None:
    keys = [f"pair-{n:03d}" for n in range(PAIRS)]
    with make_pipeline(workers=2, database_url=database_url) as pipeline:
        _post_pairs_at_once(pipeline, keys)

        def settled() -> tuple[dict[str, tuple[str, str]], dict[str, list[str]]] | None:
            owned, copied = _owners(pipeline.settings)
            final = [
                i for i, (_, status) in owned.items() if status not in {"queued", "processing"}
            ]
            done = len(final) == PAIRS and len(copied) == PAIRS
            return (owned, copied) if done and outbox_size(pipeline.settings) == 0 else None

        owned, copied = wait_for(settled, timeout=180, what=f"{PAIRS} jobs and {PAIRS} copies")
        enriched_topic = pipeline.settings.streams["orders"].outputs["enriched"].topic
        enriched = [r["value"]["event_id"] for r in read_all(pipeline.settings, enriched_topic)]
        mailed = [str(m["X-Conveyor-Event-Id"]) for m in pipeline.mail.messages()]
        views = {key: pipeline.api.get(f"/v1/jobs/{key}").json() for key in keys}

    assert set(owned) == set(copied) == set(keys)
    assert {status for _, status in owned.values()} == {"succeeded"}
    for key, (stream, _) in owned.items():
        assert copied[key] == [{"orders": "notifications", "notifications": "orders"}[stream]]
    by_orders = sorted(k for k, (stream, _) in owned.items() if stream == "orders")
    by_notes = sorted(k for k, (stream, _) in owned.items() if stream == "notifications")
    assert sorted(enriched) == by_orders
    assert sorted(mailed) == by_notes
    assert len(enriched) + len(mailed) == PAIRS
    for key, view in views.items():
        assert (view["stream"], view["status"]) == owned[key]
        assert [c["stream"] for c in view["copies"]] == copied[key]
        owner_result = "size" if view["stream"] == "orders" else "message_id"
        assert owner_result in view["result"]


TRACE_ID = "4bf92f3577b34da6a3ce929d0e0e4736"
TRACEPARENT = f"00-{TRACE_ID}-00f067aa0ba902b7-01"


@pytest.fixture
def held_queued_rows(monkeypatch: pytest.MonkeyPatch) -> Iterator[threading.Event]:
    """The API's queued-row writes wait until the event is set: a worker writes first."""
    release = threading.Event()
    write = JobStore.record_queued

    def held(store: JobStore, records: Any) -> None:
        release.wait(timeout=120)
        write(store, records)

    monkeypatch.setattr(JobStore, "record_queued", held)
    try:
        yield release
    finally:
        release.set()


def _place(view: dict[str, Any]) -> tuple[object, ...]:
    return view["accepted_at"], view["topic"], view["partition"], view["offset"]


@pytest.mark.parametrize("worker_first", [False, True], ids=["api-first", "worker-first"])
def test_a_jobs_accept_time_place_key_and_trace_are_the_same_while_queued_and_once_final(
    make_pipeline: Callable[..., AbstractContextManager[Pipeline]],
    request: pytest.FixtureRequest,
    worker_first: bool,
) -> None:
    release = request.getfixturevalue("held_queued_rows") if worker_first else None
    order = orders_json(1)[0]
    with make_pipeline() as pipeline:
        receipt = pipeline.api.post(
            "/v1/streams/orders/events", json=order, headers={"traceparent": TRACEPARENT}
        ).json()
        queued = pipeline.api.get(receipt["status_url"]).json()
        if release is not None:
            store = JobStore(pipeline.settings.database_url)
            try:
                wait_for(
                    lambda: (
                        (job := store.get(receipt["event_id"])) and job.status.value == "succeeded"
                    ),
                    timeout=60,
                    what="the worker to write the job before the API",
                )
            finally:
                store.dispose()
            release.set()
        final = wait_for(
            lambda: (
                (view := pipeline.api.get(receipt["status_url"]).json())["status"] == "succeeded"
                and view
            ),
            timeout=60,
            what="the job to be shown final",
        )
        store = JobStore(pipeline.settings.database_url)
        try:
            job = store.get(receipt["event_id"])
            by_key = search_jobs(store.engine, JobQuery(key=order["customer_id"]))
        finally:
            store.dispose()

    assert queued["status"] == "queued"
    assert _place(final) == _place(queued)
    assert _place(queued)[1:] == (receipt["topic"], receipt["partition"], receipt["offset"])
    # What the dashboard finds a job by and links it to, whoever wrote the row.
    assert job is not None
    assert (job.key, job.trace_id) == (order["customer_id"], TRACE_ID)
    assert [j.event_id for j in by_key.jobs] == [receipt["event_id"]]
