"""``GET /v1/jobs/{event_id}?wait=N`` and the client's ``wait()``, over real HTTP: a
waiting request is answered once its job ends, or after N seconds with the status then."""

from __future__ import annotations

import asyncio
import signal
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from functools import partial
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from conveyor.api import create_app
from conveyor.api.state import AppState
from conveyor.client.exceptions import JobWaitTimeoutError
from conveyor.client.http import AsyncConveyorClient, ConveyorClient
from conveyor.config import Settings
from conveyor.infra.processes import free_port_block
from conveyor.infra.services import conveyor_service, http_ok
from support.browser import serving
from support.cli import environment
from support.events import orders_json
from support.waiting import wait_for
from support.workers import running_workers

WAITERS = 100  # the client's connections (httpx's default pool): each one waits
LONG_WAIT = 300  # the test's own bound: a worker starting on a busy machine, then 100 jobs


@pytest.fixture
def api(stack_settings: Callable[..., Settings]) -> Iterator[tuple[Settings, FastAPI, str]]:
    settings = stack_settings(api={"max_wait_seconds": LONG_WAIT})
    app = create_app(settings)
    with serving(app) as url:
        yield settings, app, url


def _waiting(app: FastAPI) -> int:
    state: AppState = app.state.conveyor
    return 0 if state.running is None else len(state.running.watcher)


def test_each_waiting_request_is_answered_once_its_job_ended(
    api: tuple[Settings, FastAPI, str], tmp_path: Path
) -> None:
    settings, app, url = api
    with ConveyorClient(url) as client:
        ids = [r["event_id"] for r in client.send_batch("orders", orders_json(WAITERS))]

    async def wait_for_all() -> list[dict[str, Any]]:
        async with AsyncConveyorClient(url) as waiting:
            # One request each, held by the API until its job ends: no worker runs yet.
            answers = [asyncio.create_task(waiting.job(i, wait=LONG_WAIT)) for i in ids]
            await asyncio.to_thread(
                wait_for,
                lambda: _waiting(app) == WAITERS or any(a.done() for a in answers),
                what="every request waiting",
            )
            with running_workers(settings, tmp_path):
                views: list[dict[str, Any]] = await asyncio.gather(*answers)
                return views

    views = asyncio.run(wait_for_all())

    assert [v["event_id"] for v in views] == ids
    assert {v["status"] for v in views} == {"succeeded"}
    assert all("size" in v["result"] for v in views)
    assert _waiting(app) == 0


def test_a_wait_that_runs_out_answers_with_the_status_then(
    api: tuple[Settings, FastAPI, str],
) -> None:
    _, app, url = api
    with ConveyorClient(url) as client:
        (receipt,) = client.send_batch("orders", orders_json(1))
        event_id = receipt["event_id"]
        wait_for(lambda: client.job(event_id)["status"] == "queued", what="the job's row")

        assert client.job(event_id, wait=0.5)["status"] == "queued"  # no worker runs
        with pytest.raises(JobWaitTimeoutError) as timed_out:
            client.wait(event_id, timeout=0.5)

    assert timed_out.value.job["status"] == "queued"
    assert _waiting(app) == 0


@pytest.mark.parametrize("wait", [0, -1, LONG_WAIT + 1, "soon"])
def test_a_wait_out_of_bounds_is_refused_with_the_reason(
    api: tuple[Settings, FastAPI, str], wait: float | str
) -> None:
    _, _, url = api
    with ConveyorClient(url) as client:
        (receipt,) = client.send_batch("orders", orders_json(1))
    response = httpx.get(url + receipt["status_url"], params={"wait": wait})

    assert response.status_code == 422
    assert [p["loc"] for p in response.json()["detail"]] == [["query", "wait"]]


def test_a_stopping_api_answers_its_waiting_callers_and_ends_its_event_streams(
    stack_settings: Callable[..., Settings], tmp_path: Path
) -> None:
    settings = stack_settings(api={"max_wait_seconds": LONG_WAIT})
    port = free_port_block(1)
    url = f"http://127.0.0.1:{port}"
    env = environment(settings, port)
    env["CONVEYOR_API__MAX_WAIT_SECONDS"] = str(LONG_WAIT)
    log = tmp_path / "api.log"
    with (
        conveyor_service(["api"], env, log, partial(http_ok, f"{url}/readyz")) as api,
        ThreadPoolExecutor(2) as pool,
    ):
        with ConveyorClient(url) as client:
            (receipt,) = client.send_batch("orders", orders_json(1))
            waiting = pool.submit(client.job, receipt["event_id"], LONG_WAIT)
            following = pool.submit(_lines_until_closed, f"{url}/v1/streams/orders/job-events")
            wait_for(
                lambda: "conveyor_api_waiting_requests 1.0" in httpx.get(f"{url}/metrics").text,
                what="the request waiting",
            )
            api.terminate()
            # Answered as the API stops, not once the wait ran out (the test would fail first).
            view = waiting.result(timeout=LONG_WAIT / 5)
            # The event stream ended too (an open one would keep the API from stopping).
            followed = following.result(timeout=LONG_WAIT / 5)
        # uvicorn raises the signal it stopped on again once it stopped.
        assert api.wait(timeout=LONG_WAIT / 5) == -signal.SIGTERM, log.read_text()

    assert view["status"] == "queued"
    assert followed[0] == "event: ready"


def _lines_until_closed(url: str) -> list[str]:
    with httpx.stream("GET", url, timeout=httpx.Timeout(30, read=None)) as response:
        return [line for line in response.iter_lines() if line]
