"""A worker SIGKILLed mid-stream: every event applied once and each key's in order, every
e-mail sent once.

Two workers, each running up to 100 jobs of a stream at once (the default concurrency),
share 20,000 orders of 500 customers (a strict stream: one customer's orders apply in
order) and 2,000 notifications, posted through the API; at about 30% of the jobs settled
one worker is killed with SIGKILL and a new one started. After the drain the result
store, the mail server and the output topic are counted, and each customer's enriched
orders must come out in the order they were posted.
"""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Callable
from contextlib import AbstractContextManager, ExitStack
from pathlib import Path

from sqlalchemy import create_engine, select

from conveyor.processors.pipeline.notifications import message_id
from conveyor.store.tables import jobs
from support.events import orders_json, read_all
from support.waiting import wait_for
from support.workers import Pipeline, job_statuses, outbox_size, worker_process

ORDERS = 20_000
NOTIFICATIONS = 2_000
TOTAL = ORDERS + NOTIFICATIONS
CUSTOMERS = 500


def _settled(pipeline: Pipeline) -> int:
    statuses = job_statuses(pipeline.settings)
    return sum(n for s, n in statuses.items() if s not in {"queued", "processing"})


def test_a_killed_worker_loses_nothing_and_repeats_nothing(
    make_pipeline: Callable[..., AbstractContextManager[Pipeline]], tmp_path: Path
) -> None:
    with make_pipeline(workers=0) as pipeline:
        _kill_one_worker_midstream(pipeline, tmp_path)


def _kill_one_worker_midstream(pipeline: Pipeline, tmp_path: Path) -> None:
    assert pipeline.settings.streams["orders"].ordering == "strict"
    assert pipeline.settings.streams["orders"].concurrency == 100
    orders = orders_json(ORDERS, seed=99)
    for n, order in enumerate(orders):
        order["customer_id"] = f"c-{n * 7919 % CUSTOMERS:04d}"  # spread over all of them
    notes = [
        {"recipient": f"user{n % 300}@example.test", "subject": f"n{n}", "body": "hello"}
        for n in range(NOTIFICATIONS)
    ]
    posted: list[str] = []

    def post_all() -> None:
        for stream, events in (("orders", orders), ("notifications", notes)):
            for start in range(0, len(events), 500):
                response = pipeline.api.post(
                    f"/v1/streams/{stream}/events", json=events[start : start + 500]
                )
                assert response.status_code == 202, response.text
                posted.extend(r["event_id"] for r in response.json()["events"])

    with ExitStack() as stack:
        victim = stack.enter_context(worker_process(pipeline.settings, tmp_path, "worker-1", 1))
        stack.enter_context(worker_process(pipeline.settings, tmp_path, "worker-2", 2))
        sender = threading.Thread(target=post_all)
        sender.start()
        wait_for(lambda: _settled(pipeline) >= TOTAL * 0.3, timeout=300, what="30% settled")
        victim.kill()
        victim.wait()
        stack.enter_context(worker_process(pipeline.settings, tmp_path, "worker-3", 2))
        sender.join()
        wait_for(
            lambda: _settled(pipeline) >= TOTAL and outbox_size(pipeline.settings) == 0,
            timeout=600,
            interval=1.0,
            what="every job settled and published",
        )

    assert len(posted) == TOTAL
    assert job_statuses(pipeline.settings) == {"succeeded": TOTAL}
    engine = create_engine(pipeline.settings.database_url)
    with engine.connect() as conn:
        stored = Counter(conn.execute(select(jobs.c.event_id)).scalars())
    engine.dispose()
    assert set(stored) == set(posted)
    assert max(stored.values()) == 1

    received = Counter(m["Message-ID"] for m in pipeline.mail.messages())
    assert len(received) == NOTIFICATIONS
    assert max(received.values()) == 1, [m for m, n in received.items() if n > 1][:5]
    assert set(received) == {message_id(i) for i in posted[ORDERS:]}

    enriched = read_all(
        pipeline.settings, pipeline.settings.streams["orders"].outputs["enriched"].topic
    )
    copies = Counter(r["headers"]["ce_id"] for r in enriched)
    duplicates = sum(n - 1 for n in copies.values())
    print(f"orders.enriched (read_committed): {len(enriched)} records, {duplicates} duplicates")
    assert len(copies) == ORDERS
    assert duplicates == 0

    # Posted one batch after another, so each customer's orders reached the topic in
    # posting order; a strict stream applies them so, whichever worker ran them.
    posted_by_customer: dict[str, list[str]] = {}
    for order, event_id in zip(orders, posted[:ORDERS], strict=True):
        posted_by_customer.setdefault(order["customer_id"], []).append(event_id)
    applied_by_customer: dict[str, list[str]] = {}
    for record in enriched:
        applied_by_customer.setdefault(record["value"]["customer_id"], []).append(
            record["headers"]["ce_id"].decode()
        )
    assert len(posted_by_customer) == CUSTOMERS
    out_of_order = [c for c, ids in posted_by_customer.items() if applied_by_customer[c] != ids]
    assert out_of_order == [], out_of_order[:5]
