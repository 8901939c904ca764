"""The result store on SQLite and on a real PostgreSQL: what is written reads back the
same, the effectively-once gate holds under concurrency, and the outbox is read in
commit order."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import select

from conveyor.config import load_settings
from conveyor.kafka.events import Event
from conveyor.processors.handler import HandlerContext, Processed
from conveyor.processors.pipeline.orders import OrderHandler
from conveyor.store import JobCopy, JobRecord, JobStatus, JobStore
from conveyor.store.results import (
    Claim,
    OutboxValues,
    append_outbox,
    claim,
    outbox_after,
    transition,
)
from conveyor.store.tables import outbox
from support.waiting import wait_for

ACCEPTED = datetime(2026, 11, 1, 12, 0, 0, 123456, tzinfo=UTC)


@pytest.fixture
def pg_store(postgres_url: str) -> Iterator[JobStore]:
    """A fresh result store on PostgreSQL, for what only concurrent writers can show."""
    store = JobStore(postgres_url)
    store.create_schema()
    yield store
    store.dispose()


def job(event_id: str, status: JobStatus = JobStatus.QUEUED, **changes: Any) -> JobRecord:
    record = JobRecord(event_id, "orders", "orders-t", 2, 41, status, ACCEPTED, ACCEPTED)
    return record._replace(**changes)


def move(store: JobStore, *records: JobRecord) -> set[str]:
    with store.engine.begin() as conn:
        return transition(conn, records)


def test_a_job_reads_back_as_written_with_its_times_in_utc(store: JobStore) -> None:
    finished = ACCEPTED + timedelta(seconds=2, microseconds=7)
    result = {"size": "small", "note": "naïve ☃", "nested": {"n": [1, 2.5, None]}}
    store.record_queued([job("e-1")])
    move(store, job("e-1", JobStatus.SUCCEEDED, updated_at=finished, result=result, attempts=1))

    read = store.get("e-1")

    assert read == job("e-1", JobStatus.SUCCEEDED, updated_at=finished, result=result, attempts=1)
    assert read is not None
    assert read.accepted_at.isoformat() == "2026-11-01T12:00:00.123456+00:00"
    assert read.updated_at.utcoffset() == timedelta(0)


def test_a_final_job_does_not_move_again(store: JobStore) -> None:
    assert move(store, job("e-1", JobStatus.PROCESSING)) == {"e-1"}
    assert move(store, job("e-1", JobStatus.SUCCEEDED, result={"ok": True})) == {"e-1"}

    assert move(store, job("e-1", JobStatus.FAILED, error="late"), job("e-2")) == {"e-2"}
    read = store.get("e-1")
    assert read is not None
    assert (read.status, read.result, read.error) == (JobStatus.SUCCEEDED, {"ok": True}, None)


def test_the_first_record_of_an_id_counts_within_one_transition(store: JobStore) -> None:
    moved = move(store, job("e-1", JobStatus.DEAD_LETTERED), job("e-1", JobStatus.SUCCEEDED))

    assert moved == {"e-1"}
    read = store.get("e-1")
    assert read is not None
    assert read.status is JobStatus.DEAD_LETTERED


def test_a_queued_row_never_overwrites_a_job_the_workers_moved(store: JobStore) -> None:
    move(store, job("e-1", JobStatus.SUCCEEDED))
    store.record_queued([job("e-1"), job("e-2")])

    assert [(r.status if r else None) for r in map(store.get, ["e-1", "e-2"])] == [
        JobStatus.SUCCEEDED,
        JobStatus.QUEUED,
    ]


def claim_jobs(store: JobStore, *records: JobRecord) -> Claim:
    with store.engine.begin() as conn:
        return claim(conn, records)


def note(event_id: str, status: JobStatus = JobStatus.PROCESSING, **changes: Any) -> JobRecord:
    """A notification's job record: another stream than :func:`job`'s orders."""
    return job(
        event_id, status, stream="notifications", topic="notes-t", partition=0, offset=7
    )._replace(**changes)


def test_an_id_the_api_queued_for_one_stream_is_a_copy_on_another(store: JobStore) -> None:
    store.record_queued([job("e-1"), job("e-2")])
    recorded = ACCEPTED + timedelta(seconds=3)

    claimed = claim_jobs(store, note("e-1", updated_at=recorded), job("e-2", JobStatus.PROCESSING))

    assert claimed == Claim({"e-2"}, {"e-1": "orders"})
    read = store.get("e-1")
    assert read is not None
    assert (read.stream, read.status, read.topic, read.offset) == (
        "orders",
        JobStatus.QUEUED,
        "orders-t",
        41,
    )
    assert read.copies == (JobCopy("notifications", "notes-t", 0, 7, ACCEPTED, recorded),)


def test_the_first_worker_to_claim_an_id_owns_it_and_writes_the_apis_values(
    store: JobStore,
) -> None:
    assert claim_jobs(store, note("e-1")) == Claim({"e-1"}, {})
    store.record_queued([job("e-1")])  # the API's batched insert, later

    assert claim_jobs(store, job("e-1", JobStatus.PROCESSING)) == Claim(
        set(), {"e-1": "notifications"}
    )
    read = store.get("e-1")
    assert read is not None
    assert (read.stream, read.topic, read.partition, read.offset, read.accepted_at) == (
        "notifications",
        "notes-t",
        0,
        7,
        ACCEPTED,
    )


def test_a_settle_never_moves_another_streams_job(store: JobStore) -> None:
    store.record_queued([job("e-1")])

    assert move(store, note("e-1", JobStatus.SUCCEEDED, result={"sent": True})) == set()
    read = store.get("e-1")
    assert read is not None
    assert (read.status, read.result) == (JobStatus.QUEUED, None)


def test_a_finished_job_of_its_own_stream_is_neither_claimed_nor_a_copy(store: JobStore) -> None:
    move(store, job("e-1", JobStatus.SUCCEEDED))

    assert claim_jobs(store, job("e-1", JobStatus.PROCESSING)) == Claim(set(), {})
    read = store.get("e-1")
    assert read is not None
    assert (read.status, read.copies) == (JobStatus.SUCCEEDED, ())


def test_a_copy_seen_again_is_recorded_once(store: JobStore) -> None:
    store.record_queued([job("e-1")])
    claim_jobs(store, note("e-1"))
    claim_jobs(store, note("e-1", offset=9))

    read = store.get("e-1")
    assert read is not None
    assert [c.offset for c in read.copies] == [7]


def test_streams_claiming_the_same_ids_at_once_each_get_one_owner(store: JobStore) -> None:
    """Two workers of two streams claim the same 300 ids at the same moment, in batches of
    different sizes: every id ends up with one owner and one copy, whoever came first."""
    ids = [f"e-{n:03d}" for n in range(300)]
    start = threading.Barrier(2)

    def claims(make: Any, size: int) -> list[Claim]:
        start.wait()
        return [
            claim_jobs(store, *(make(i) for i in ids[at : at + size]))
            for at in range(0, len(ids), size)
        ]

    with ThreadPoolExecutor(2) as pool:
        orders = pool.submit(claims, lambda i: job(i, JobStatus.PROCESSING), 40)
        notes = pool.submit(claims, note, 70)
        by_orders, by_notes = orders.result(timeout=60), notes.result(timeout=60)

    owned_by_orders = set().union(*(c.fresh for c in by_orders))
    owned_by_notes = set().union(*(c.fresh for c in by_notes))
    assert owned_by_orders.isdisjoint(owned_by_notes)
    assert owned_by_orders | owned_by_notes == set(ids)
    assert {i for c in by_orders for i in c.copies} == owned_by_notes
    assert {i for c in by_notes for i in c.copies} == owned_by_orders
    for event_id in ids:
        read = store.get(event_id)
        assert read is not None
        assert [c.stream for c in read.copies] == [
            "notifications" if read.stream == "orders" else "orders"
        ]


def test_outbox_records_come_back_byte_for_byte(store: JobStore) -> None:
    rows: list[OutboxValues] = [
        ("t", b"\x00\xff k", bytes(range(256)), b"[]"),
        ("t.dlq", None, None, bytes(range(255, -1, -1))),
    ]
    with store.engine.begin() as conn:
        append_outbox(conn, rows)

    with store.engine.connect() as conn:
        read = outbox_after(conn, 0, 10)

    assert [(r.topic, r.key, r.value, r.headers) for r in read] == rows
    assert read[0].seq < read[1].seq


def test_revenue_per_window_adds_up_over_transactions_whatever_the_currency(
    store: JobStore,
) -> None:
    settings = load_settings()
    handler = OrderHandler(HandlerContext(settings, settings.streams["orders"], store))
    placed = datetime(2026, 11, 1, 12, 0, 30, tzinfo=UTC)

    def apply(event_id: str, cents: int, currency: str) -> list[tuple[object, object]]:
        value = {"region": "eu", "currency": currency, "amount_cents": cents, "placed_at": placed}
        event = Event(event_id, value, None, None, {}, "orders-t", 0, 0)
        with store.engine.begin() as conn:
            outputs = handler.apply(conn, [(event, Processed({}))])
        return [(o.value["revenue_cents"], o.value["orders"]) for o in outputs]

    assert apply("e-1", 250, "EUR") == [(250, 1)]
    assert apply("e-2", 100, "EUR") == [(350, 2)]
    # Currency is any string a client sends: longer than a VARCHAR would have held.
    assert apply("e-3", 7, "a currency of some length") == [(7, 1)]


def test_concurrent_schema_creation_leaves_one_schema(postgres_url: str) -> None:
    stores = [JobStore(postgres_url) for _ in range(4)]
    try:
        with ThreadPoolExecutor(len(stores)) as pool:
            list(pool.map(JobStore.create_schema, stores))
        assert stores[0].get("nothing") is None
    finally:
        for store in stores:
            store.dispose()


def _waiting_on_a_lock(store: JobStore) -> bool:
    # A connection of its own each time: a transaction sees one snapshot of the activity.
    with store.engine.connect() as conn:
        return bool(
            conn.exec_driver_sql(
                "SELECT count(*) FROM pg_stat_activity "
                "WHERE datname = current_database() AND wait_event_type = 'Lock'"
            ).scalar_one()
        )


def test_a_concurrent_final_transition_waits_then_finds_the_job_done(pg_store: JobStore) -> None:
    move(pg_store, job("e-1", JobStatus.PROCESSING))
    with ThreadPoolExecutor(1) as pool:
        with pg_store.engine.begin() as first:
            assert transition(first, [job("e-1", JobStatus.SUCCEEDED)]) == {"e-1"}
            second = pool.submit(move, pg_store, job("e-1", JobStatus.DEAD_LETTERED))
            wait_for(
                lambda: _waiting_on_a_lock(pg_store),
                what="the second transition to wait for the first",
            )
        assert second.result(timeout=10) == set()

    read = pg_store.get("e-1")
    assert read is not None
    assert read.status is JobStatus.SUCCEEDED


def test_the_outbox_is_read_in_commit_order_so_no_record_is_skipped(pg_store: JobStore) -> None:
    """Writers hold their transactions open for different times after appending, as
    workers settling batches do; a relay-style reader reading past the last seq it saw
    must still see every record."""
    writers, appends = 4, 20
    start = threading.Barrier(writers + 1)

    def write(writer: int) -> None:
        start.wait()
        for n in range(appends):
            with pg_store.engine.begin() as conn:
                append_outbox(conn, [(f"w{writer}", None, None, b"")])
                # The transaction stays open a moment after the append, as a commit takes.
                time.sleep(0.002 * ((writer + n) % 4))

    seen: list[int] = []

    def read_past_last() -> None:
        with pg_store.engine.connect() as conn:
            seen.extend(row.seq for row in outbox_after(conn, seen[-1] if seen else 0, 1_000))

    with ThreadPoolExecutor(writers) as pool:
        futures = [pool.submit(write, w) for w in range(writers)]
        start.wait()
        while not all(f.done() for f in futures):
            read_past_last()
        for future in futures:
            future.result()
    read_past_last()

    with pg_store.engine.connect() as conn:
        written = list(conn.execute(select(outbox.c.seq).order_by(outbox.c.seq)).scalars())
    assert len(written) == writers * appends
    assert seen == written
