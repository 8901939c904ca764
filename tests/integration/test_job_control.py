"""Progress and cancel end to end, on a real broker and worker processes: a job's progress
shows at its status URL while it runs; a queued job cancelled never runs, not even when its
record comes again; a running job cancelled (on the loop, in a thread that checks
``context.cancelled()``, or in the process pool, whose process is killed) stops and applies
nothing: no output, no revenue share, no e-mail, no report; and when its record comes
again, to a fresh group, it stays cancelled and its handler is not called again."""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import create_engine, func, select

from conveyor.api import create_app
from conveyor.config import ApiKey, Settings
from conveyor.kafka.admin import KafkaAdmin, admin_client
from conveyor.monitoring.lag import measure_lag
from conveyor.processors.pipeline.reports import report_path
from conveyor.store.tables import revenue_per_minute
from support.events import orders_json, read_all
from support.jobs import Marks, release
from support.processes import alive
from support.stack import unique
from support.waiting import wait_for
from support.workers import Pipeline, outbox_size, running_workers

HELD_ORDERS = "support.jobs:HeldOrders"


@pytest.fixture(autouse=True)
def _handlers_importable(monkeypatch: pytest.MonkeyPatch) -> None:
    """The worker processes import the tests' handlers (``support.jobs``)."""
    monkeypatch.setenv("PYTHONPATH", str(Path(__file__).parents[1]))


def _orders(*event_ids: str) -> list[dict[str, Any]]:
    """Orders of one customer (one partition, one after another) in one revenue window."""
    return [
        {**order, "event_id": event_id, "customer_id": "c-1"}
        for order, event_id in zip(orders_json(len(event_ids)), event_ids, strict=True)
    ]


def _post(api: TestClient, stream: str, event: dict[str, Any]) -> None:
    response = api.post(f"/v1/streams/{stream}/events", json=event)
    assert response.status_code == 202, response.text


def _job(api: TestClient, event_id: str) -> dict[str, Any]:
    response = api.get(f"/v1/jobs/{quote(event_id, safe='')}")
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def _cancel(api: TestClient, event_id: str) -> Any:
    return api.post(f"/v1/jobs/{quote(event_id, safe='')}/cancel")


def _status_is(api: TestClient, event_id: str, status: str) -> bool:
    return bool(_job(api, event_id)["status"] == status)


def _read_past(admin: KafkaAdmin, settings: Settings, job: dict[str, Any]) -> bool:
    """Whether the workers' group committed past ``job``'s record: it settled it."""
    lag = measure_lag(admin, settings.workers.group_id, [job["topic"]])
    committed = lag[(job["topic"], job["partition"])].committed
    return committed is not None and committed > job["offset"]


def _read_again(settings: Settings, api: TestClient, last: str, directory: Path) -> None:
    """Workers of a fresh group read every record again, up to ``last``'s job's."""
    fresh, admin = _fresh_group(settings), admin_client(settings.kafka)
    directory.mkdir()
    with running_workers(fresh, directory):
        wait_for(
            lambda: _read_past(admin, fresh, _job(api, last)),
            timeout=120,
            what="the fresh group past the records",
        )


def _fresh_group(settings: Settings) -> Settings:
    """``settings`` with a group of workers that never read anything: it reads every topic
    from its start again, as a replay into a fresh group does."""
    again = settings.workers.model_copy(update={"group_id": unique("again")})
    return settings.model_copy(update={"workers": again})


def _worker_pid(job: dict[str, Any]) -> int:
    """The pid of the worker that claimed ``job`` (its ``worker`` is ``host:pid``)."""
    return int(str(job["worker"]).rpartition(":")[2])


def _revenue_orders(settings: Settings) -> int:
    engine = create_engine(settings.database_url)
    try:
        with engine.connect() as conn:
            total = conn.execute(select(func.sum(revenue_per_minute.c.orders))).scalar()
            return int(total or 0)
    finally:
        engine.dispose()


def _enriched(settings: Settings) -> set[str]:
    topic = settings.streams["orders"].outputs["enriched"].topic
    return {r["headers"]["ce_id"].decode() for r in read_all(settings, topic)}


def test_a_queued_job_cancelled_never_runs_not_even_when_its_record_comes_again(
    make_pipeline: Callable[..., AbstractContextManager[Pipeline]], tmp_path: Path
) -> None:
    cancelled, done, later = "shop/never", "shop/done", "shop/later"
    first, second = tmp_path / "first", tmp_path / "second"
    first.mkdir()
    second.mkdir()
    with make_pipeline(workers=0, orders={"handler": HELD_ORDERS}) as pipeline:
        api, settings, marks = pipeline.api, pipeline.settings, Marks(pipeline.settings.data_dir)
        orders = _orders(cancelled, done, later)
        _post(api, "orders", orders[0])
        # At once: its queued row may still be in the API's next batch.
        answer = _cancel(api, cancelled)
        assert answer.status_code == 200, answer.text
        assert answer.json()["status"] == "cancelled"
        assert answer.json()["event_id"] == cancelled
        _post(api, "orders", orders[1])

        with running_workers(settings, first):
            wait_for(lambda: _status_is(api, done, "succeeded"), timeout=120, what=done)
        assert marks.count(cancelled, "called") == 0
        assert _cancel(api, done).status_code == 409
        assert _cancel(api, done).json()["detail"]["status"] == "succeeded"
        assert _cancel(api, cancelled).status_code == 409
        assert _cancel(api, "shop/nobody").status_code == 404

        # A fresh group reads the partition again from its start: the cancelled record
        # comes again, before the one posted now.
        _post(api, "orders", orders[2])
        again = settings.workers.model_copy(update={"group_id": unique("again")})
        with running_workers(settings.model_copy(update={"workers": again}), second):
            wait_for(lambda: _status_is(api, later, "succeeded"), timeout=120, what=later)
            # Its output is published by the relay a moment after the settle: read below.
            wait_for(lambda: outbox_size(settings) == 0, timeout=120, what="the outbox drained")
        assert marks.count(cancelled, "called") == 0
        assert marks.count(done, "called") == 1
        assert _status_is(api, cancelled, "cancelled")
        assert _enriched(settings) == {done, later}


@pytest.mark.parametrize(
    "handler", [HELD_ORDERS, "support.jobs:HeldOrdersInThreads"], ids=["async", "thread"]
)
def test_a_running_job_shows_its_progress_and_cancelled_applies_nothing(
    make_pipeline: Callable[..., AbstractContextManager[Pipeline]], handler: str, tmp_path: Path
) -> None:
    held, after = "hold-1", "after-1"
    with make_pipeline(orders={"handler": handler}) as pipeline:
        api, settings, marks = pipeline.api, pipeline.settings, Marks(pipeline.settings.data_dir)
        orders = _orders(held, after)
        _post(api, "orders", orders[0])
        job = wait_for(
            lambda: (found := _job(api, held)).get("progress") and found,
            timeout=120,
            what=f"{held}'s progress",
        )
        assert job["status"] == "processing"
        assert job["progress"] == {
            "fraction": 0.5,
            "message": "half way",
            "partial_result": {"step": 1},
        }
        assert job["started_at"]
        host, _, pid = job["worker"].rpartition(":")
        assert host
        assert pid.isdigit()

        _post(api, "orders", orders[1])  # waits behind the held one: same customer
        answer = _cancel(api, held)
        assert answer.status_code == 200, answer.text
        assert answer.json()["status"] == "cancelled"
        wait_for(lambda: marks.count(held, "cancelled"), timeout=60, what="the handler stopped")
        # The next order of the customer runs once the cancelled one settled.
        wait_for(lambda: _status_is(api, after, "succeeded"), timeout=120, what=after)
        assert marks.count(held, "finished") == 0
        assert _status_is(api, held, "cancelled")
        assert _enriched(settings) == {after}
        assert _revenue_orders(settings) == 1

        # Both records come again, to a fresh group, in order: the cancelled job stays
        # cancelled, its handler is not called again, and nothing more is applied.
        _read_again(settings, api, after, tmp_path / "again")
        assert marks.count(held, "called") == 1
        assert marks.count(after, "called") == 1
        assert _status_is(api, held, "cancelled")
        assert _enriched(settings) == {after}
        assert _revenue_orders(settings) == 1


def test_a_running_process_pool_job_cancelled_has_its_process_killed_and_applies_nothing(
    make_pipeline: Callable[..., AbstractContextManager[Pipeline]], tmp_path: Path
) -> None:
    held, after = "hold-report", "after-report"
    first = tmp_path / "first"
    first.mkdir()
    # The handler runs until released, which comes only after the cancel: an hour, a day.
    reports = {"handler": "support.jobs:HeldReports", "timeout": "1h"}
    with make_pipeline(workers=0, reports=reports) as pipeline:
        api, settings, marks = pipeline.api, pipeline.settings, Marks(pipeline.settings.data_dir)
        admin, drawn = admin_client(settings.kafka), settings.data_dir / "reports"
        _post(api, "reports", {"event_id": held, "requester": "r-1"})
        with running_workers(settings, first):
            job = wait_for(
                lambda: (found := _job(api, held)).get("progress") and found,
                timeout=120,
                what=f"{held} running",
            )
            assert job["status"] == "processing"
            pid = int(marks.get(held, "pid") or 0)
            assert pid > 0
            assert pid != _worker_pid(job)  # in a process of the pool, not the worker
            asked = time.monotonic()
            answer = _cancel(api, held)
            assert answer.status_code == 200, answer.text
            assert answer.json()["status"] == "cancelled"
            wait_for(lambda: not alive(pid), timeout=60, what="the job's process killed")
            print(f"the job's process was gone {time.monotonic() - asked:.1f}s after the cancel")
            release(settings.data_dir, held)  # too late: nothing may come of it
            # Its record settled (the group committed past it), and the stream goes on: the
            # requester's next report, on the same partition, is drawn.
            wait_for(lambda: _read_past(admin, settings, job), timeout=60, what=f"{held} settled")
            _post(api, "reports", {"event_id": after, "requester": "r-1"})
            wait_for(lambda: _status_is(api, after, "succeeded"), timeout=120, what=after)
        assert marks.count(held, "finished") == 0
        cancelled = _job(api, held)
        assert cancelled["status"] == "cancelled"
        assert "result" not in cancelled
        assert not report_path(drawn, held).exists()
        assert report_path(drawn, after).exists()

        # The records come again, to a fresh group: the cancelled job stays cancelled and
        # its handler is not called again.
        _read_again(settings, api, after, tmp_path / "again")
        assert marks.count(held, "called") == 1
        assert marks.count(after, "called") == 1
        assert _status_is(api, held, "cancelled")
        assert not report_path(drawn, held).exists()


def test_a_running_email_job_cancelled_sends_nothing(
    make_pipeline: Callable[..., AbstractContextManager[Pipeline]],
) -> None:
    held, after = "hold-mail", "after-mail"
    with make_pipeline(notifications={"handler": "support.jobs:HeldEmails"}) as pipeline:
        api, marks = pipeline.api, Marks(pipeline.settings.data_dir)
        for event_id in (held, after):
            note = {"event_id": event_id, "recipient": "a@example.test", "subject": "s"}
            _post(api, "notifications", {**note, "body": event_id})
        wait_for(lambda: marks.count(held, "called"), timeout=120, what=f"{held} running")
        assert _cancel(api, held).status_code == 200
        wait_for(lambda: marks.count(held, "cancelled"), timeout=60, what="the handler stopped")
        release(pipeline.settings.data_dir, held)  # too late: nothing may come of it
        wait_for(lambda: _status_is(api, after, "succeeded"), timeout=120, what=after)
        assert [m["X-Conveyor-Event-Id"] for m in pipeline.mail.messages()] == [after]
        assert _status_is(api, held, "cancelled")


@pytest.fixture
def keyed_api(stack_settings: Callable[..., Settings]) -> Iterator[TestClient]:
    keys = tuple(
        ApiKey(name=name, sha256=hashlib.sha256(name.encode()).hexdigest(), streams=streams)
        for name, streams in (("shop-key", ("orders",)), ("mail-key", ("notifications",)))
    )
    with TestClient(create_app(stack_settings(api={"keys": keys}))) as client:
        yield client


def test_only_a_key_allowed_on_the_jobs_stream_cancels_it(keyed_api: TestClient) -> None:
    def bearer(key: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {key}"}

    order = _orders("keyed/1")[0]
    posted = keyed_api.post("/v1/streams/orders/events", json=order, headers=bearer("shop-key"))
    assert posted.status_code == 202, posted.text
    url = f"/v1/jobs/{quote('keyed/1', safe='')}/cancel"
    assert keyed_api.post(url, headers=bearer("mail-key")).status_code == 403
    assert keyed_api.post(url).status_code == 401
    answer = keyed_api.post(url, headers=bearer("shop-key"))
    assert answer.status_code == 200, answer.text
    assert answer.json()["status"] == "cancelled"
