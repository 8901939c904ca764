"""Webhooks through a receiver killed and restarted mid-delivery and a worker SIGKILLed
meanwhile (issue 18's acceptance): every outcome delivered, duplicates only under the
same ``webhook-id``, every signature valid, nothing for a job that did not settle.

Orders (one in 25 breaking the amount rule, so some outcomes are ``dead_lettered``) are
posted with a callback to a receiver in a process of its own, in two halves. Once the
receiver has answered some of the first half it is killed with SIGKILL; the second half is
posted while it is down, and it is started again on the same port once deliveries have
failed. Then one of the two workers is SIGKILLed while the failed deliveries wait on their
retry tiers, and another started. Reports are posted with callbacks too, on a stream with
no handler: their jobs never settle, and nothing may be delivered for them.
"""

from __future__ import annotations

import json
import signal
from collections import Counter, defaultdict
from collections.abc import Callable
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import create_engine, func, select

from conveyor.config import Settings
from conveyor.infra.processes import free_port_block
from conveyor.store.tables import jobs
from support.events import orders_json
from support.waiting import wait_for
from support.webhook_receiver import received, receiver_process, signature_valid
from support.webhooks import SECRET, webhook_stack
from support.workers import outbox_size, worker_process

UNSETTLED = 40
# Retried within seconds (a receiver down for a few is outlasted), still with backoff.
RETRIES = {"retry": {"attempts": 12, "backoff_seconds": 0.5, "max_backoff_seconds": 5}}


def test_every_outcome_reaches_a_receiver_killed_and_restarted_during_delivery(
    stack_settings: Callable[..., Settings], tmp_path: Path
) -> None:
    _deliver_through_faults(stack_settings, tmp_path, outcomes=500)


@pytest.mark.long
def test_5000_outcomes_reach_a_receiver_killed_and_restarted_during_delivery(
    stack_settings: Callable[..., Settings], tmp_path: Path
) -> None:
    _deliver_through_faults(stack_settings, tmp_path, outcomes=5_000)


def _statuses(settings: Settings, stream: str) -> dict[str, int]:
    engine = create_engine(settings.database_url)
    try:
        with engine.connect() as conn:
            rows = conn.execute(
                select(jobs.c.status, func.count())
                .where(jobs.c.stream == stream)
                .group_by(jobs.c.status)
            )
            return {status: count for status, count in rows}
    finally:
        engine.dispose()


def _final_statuses(settings: Settings, stream: str) -> dict[str, str]:
    engine = create_engine(settings.database_url)
    try:
        with engine.connect() as conn:
            rows = conn.execute(
                select(jobs.c.event_id, jobs.c.status).where(jobs.c.stream == stream)
            )
            return {event_id: status for event_id, status in rows}
    finally:
        engine.dispose()


def _deliver_through_faults(
    stack_settings: Callable[..., Settings], tmp_path: Path, outcomes: int
) -> None:
    port = free_port_block(1)
    url = f"http://127.0.0.1:{port}/hook"
    log = tmp_path / "received.jsonl"
    orders = orders_json(outcomes, seed=18)
    for n, order in enumerate(orders):
        if n % 25 == 7:
            order["amount_cents"] += 1  # breaks the amount rule: dead-lettered
    half = outcomes // 2
    reports = [{"requester": f"r-{n}"} for n in range(UNSETTLED)]

    def unique_received() -> int:
        return len({r["headers"]["webhook-id"] for r in received(log)})

    posted: list[str] = []
    with ExitStack() as stack:
        receiver = receiver_process(port, log)

        def stop_receiver() -> None:  # whichever receiver runs then
            receiver.kill()
            receiver.wait()

        stack.callback(stop_receiver)
        hooks = stack.enter_context(
            webhook_stack(
                stack_settings,
                tmp_path,
                workers=2,
                webhooks=RETRIES,
                reports={"handler": None, "executor": "auto"},
            )
        )
        settings = hooks.settings

        def post(stream: str, events: list[dict[str, Any]]) -> list[str]:
            ids = []
            for start in range(0, len(events), 50):
                answer = hooks.post(stream, events[start : start + 50], url)
                assert answer.status_code == 202, answer.text
                ids += [r["event_id"] for r in answer.json()["events"]]
            return ids

        unsettled = post("reports", reports)
        posted += post("orders", orders[:half])
        wait_for(lambda: unique_received() >= half // 5, timeout=300, what="first deliveries")
        receiver.send_signal(signal.SIGKILL)
        receiver.wait()
        at_receiver_kill = unique_received()
        posted += post("orders", orders[half:])
        wait_for(
            lambda: _statuses(settings, "webhooks").get("processing", 0) > 0,
            timeout=300,
            what="deliveries failing on their retry tiers",
        )
        receiver = receiver_process(port, log)
        victim = hooks.workers[0]
        victim.kill()
        victim.wait()
        at_worker_kill = unique_received()
        stack.enter_context(worker_process(settings, tmp_path, "worker-3", 2))
        wait_for(
            lambda: (
                sum(_statuses(settings, "orders").values()) == outcomes
                and set(_statuses(settings, "orders")) <= {"succeeded", "dead_lettered"}
                and _statuses(settings, "webhooks") == {"succeeded": outcomes}
                and outbox_size(settings) == 0
            ),
            timeout=600,
            interval=1.0,
            what="every outcome delivered",
        )

    requests = received(log)
    jobs_final = _final_statuses(settings, "orders")
    expected = {f"{event_id}.{status}" for event_id, status in jobs_final.items()}
    ids = Counter(r["headers"]["webhook-id"] for r in requests)
    duplicates = sum(n - 1 for n in ids.values())
    print(
        f"outcomes {outcomes}: {len(requests)} POSTs received, {duplicates} duplicates; "
        f"received before the receiver's kill {at_receiver_kill}, before the worker's "
        f"{at_worker_kill}; {Counter(jobs_final.values())}"
    )
    # Both faults came mid-delivery.
    assert at_receiver_kill < outcomes
    assert at_worker_kill < outcomes
    assert set(posted) == set(jobs_final)
    assert set(ids) == expected  # every outcome, and only settled jobs' outcomes
    assert "dead_lettered" in {status for status in jobs_final.values()}
    by_job: defaultdict[str, set[str]] = defaultdict(set)
    for request in requests:
        body = json.loads(request["body"])
        data = body["data"]
        assert request["headers"]["webhook-id"] == f"{data['event_id']}.{data['status']}"
        assert body["type"] == f"job.{data['status']}"
        assert data["status"] == jobs_final[data["event_id"]]
        by_job[data["event_id"]].add(request["headers"]["webhook-id"])
    assert all(len(hook_ids) == 1 for hook_ids in by_job.values())  # dupes: same webhook-id
    assert all(signature_valid(SECRET, request) for request in requests)
    assert not set(by_job) & set(unsettled)
    assert set(_statuses(settings, "reports")) == {"queued"}
