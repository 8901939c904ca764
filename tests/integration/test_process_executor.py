"""A stream declared ``executor: process`` through a real worker: its jobs run in other
processes while the worker's loop goes on, and a job past its timeout has its process
killed and is dead-lettered with TimeoutError."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from pathlib import Path

import pytest

from support.events import orders_json
from support.processes import alive
from support.waiting import wait_for
from support.workers import Pipeline


def _post(pipeline: Pipeline, stream: str, events: list[dict[str, object]]) -> list[str]:
    response = pipeline.api.post(f"/v1/streams/{stream}/events", json=events)
    assert response.status_code == 202, response.text
    return [r["event_id"] for r in response.json()["events"]]


def _job(pipeline: Pipeline, event_id: str) -> dict[str, object]:
    job: dict[str, object] = pipeline.api.get(f"/v1/jobs/{event_id}").json()
    return job


def _final(pipeline: Pipeline, event_id: str) -> dict[str, object]:
    def job() -> dict[str, object] | None:
        found = _job(pipeline, event_id)
        return None if found["status"] in {"queued", "processing"} else found

    return wait_for(job, timeout=90, what=f"job {event_id} final")


@pytest.fixture
def pipeline(
    make_pipeline: Callable[..., AbstractContextManager[Pipeline]],
    monkeypatch: pytest.MonkeyPatch,
) -> Iterator[Pipeline]:
    # The worker process imports the tests' handler by name.
    tests = str(Path(__file__).parents[1])
    monkeypatch.setenv(
        "PYTHONPATH", os.pathsep.join(filter(None, [tests, os.getenv("PYTHONPATH")]))
    )
    with make_pipeline(
        reports={
            "handler": "support.job_handlers:SpinHandler",
            "timeout": "10s",
            "retry": {"attempts": 1},
        }
    ) as made:
        yield made


def test_a_cpu_bound_job_runs_in_another_process_while_other_jobs_settle(
    pipeline: Pipeline,
) -> None:
    (spin,) = _post(pipeline, "reports", [{"requester": "spin-2000"}])
    pids = pipeline.settings.data_dir / "pids"
    wait_for((pids / spin).exists, timeout=60, what="the CPU job started")
    orders = _post(pipeline, "orders", orders_json(20, seed=5))
    for event_id in orders:
        assert _final(pipeline, event_id)["status"] == "succeeded"
    # The orders settled on the worker's loop while the CPU job still held its process.
    assert _job(pipeline, spin)["status"] == "processing"
    done = _final(pipeline, spin)
    assert done["status"] == "succeeded", done["error"]
    result = done["result"]
    assert isinstance(result, dict)
    assert result["pooled"] is True
    assert result["pid"] == int((pids / spin).read_text())


def test_a_job_past_its_timeout_is_dead_lettered_and_its_process_replaced(
    pipeline: Pipeline,
) -> None:
    (stuck,) = _post(pipeline, "reports", [{"requester": "spin--1"}])
    job = _final(pipeline, stuck)
    assert job["status"] == "dead_lettered"
    assert "TimeoutError" in str(job["error"])
    pid = int((pipeline.settings.data_dir / "pids" / stuck).read_text())
    wait_for(lambda: not alive(pid), timeout=30, what="the timed-out job's process killed")
    after = _post(pipeline, "reports", [{"requester": "spin-0"} for _ in range(4)])
    results = [_final(pipeline, event_id) for event_id in after]
    assert [r["status"] for r in results] == ["succeeded"] * 4
    assert pid not in {r["result"]["pid"] for r in results if isinstance(r["result"], dict)}
