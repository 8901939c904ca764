"""``conveyor bench wait``: callers waiting for their jobs to end (``?wait=``) beside the
same callers polling every 100 ms, through one API process, in one run.

One ``conveyor api`` and one ``conveyor worker`` process serve a stream of the bench's own
whose jobs each take ``job_ms`` (a wait, at a concurrency no backlog forms behind). Callers
arrive at ``rate`` a second; each POSTs its job and then learns its outcome:

- *waiting*: one ``GET /v1/jobs/{id}?wait=60``, answered by the API once the job is final;
- *polling*: a ``GET`` every ``poll_ms`` until the answer is final (what callers did before).

For each caller, how long after its job became final (the job's ``updated_at``, written
by the settle) the answer reached it; and the API process's CPU seconds (user + system,
from ``/proc``) over each phase. Both phases run the same number of callers at the same
rate, the waiting one first.
"""

from __future__ import annotations

import asyncio
import os
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import aiohttp

from conveyor.bench.report import percentiles
from conveyor.bench.services import api_process, bench_settings, bench_stream, worker_process
from conveyor.config import Settings, StreamDeclaration

__all__ = ["WaitPlan", "bench_wait"]

Note = Callable[[str], None]

_SCHEMA = Path(__file__).with_name("jobs.avsc")
_FINAL = frozenset({"succeeded", "failed", "dead_lettered", "cancelled"})
_KEYS = 1_000


@dataclass(frozen=True)
class WaitPlan:
    callers: int = 10_000  # in each phase, one job each
    rate: int = 200  # callers arriving a second
    job_ms: int = 500  # how long each job takes
    poll_ms: int = 100  # the polling callers' interval
    wait_seconds: int = 60  # the waiting callers' ?wait=


def bench_wait(
    settings: Settings, plan: WaitPlan, note: Note
) -> tuple[dict[str, Any], dict[str, list[float]]]:
    """Each caller's delay from its job's end to its answer, waiting and polling, and the
    API's CPU seconds in each phase; the delays (seconds) for the plots."""
    declared = StreamDeclaration.model_validate(
        {
            "name": "bench-wait",
            "schema": str(_SCHEMA),
            "key": "job",
            "partitions": 6,
            "ordering": "relaxed",
            "handler": "conveyor.bench.job_handlers:Sleep",
            # Room for every job in flight at the rate: callers wait for their job, not
            # for a slot.
            "concurrency": max(plan.rate * plan.job_ms // 1000 * 2, 100),
            "retry": {"attempts": 1},
        }
    )
    with_stream = settings.model_copy(update={"streams": {declared.name: declared}})
    stream = bench_stream(with_stream, declared.name, "wait")
    with (
        bench_settings(settings, stream) as config,
        worker_process(config),
        api_process(config) as (host, port, pid),
    ):
        base = f"http://{host}:{port}"
        warmup = min(plan.callers // 10, 500)
        note(f"wait: {warmup:,} callers to warm up, not measured")
        asyncio.run(_phase(base, stream.name, plan, warmup, waiting=True, tag="warmup"))
        figures: dict[str, Any] = {
            "callers": plan.callers,
            "rate": plan.rate,
            "job_ms": plan.job_ms,
        }
        delays: dict[str, list[float]] = {}
        for name, waiting in (("wait", True), ("poll", False)):
            how = (
                f"each waiting (?wait={plan.wait_seconds})"
                if waiting
                else f"each polling every {plan.poll_ms} ms"
            )
            note(f"wait: {plan.callers:,} callers at {plan.rate:,}/s, {how}")
            cpu = _cpu_seconds(pid)
            began = time.monotonic()
            outcome = asyncio.run(
                _phase(base, stream.name, plan, plan.callers, waiting=waiting, tag=name)
            )
            seconds = time.monotonic() - began
            used = _cpu_seconds(pid) - cpu
            p50, p99 = percentiles(outcome.delays)
            note(
                f"wait ({name}): answered {p50 * 1000:.1f} ms (p50) / {p99 * 1000:.1f} ms (p99) "
                f"after the job ended; {outcome.requests:,} requests; API CPU {used:.1f} s "
                f"in {seconds:.1f} s"
            )
            delays[f"{name}_answer"] = outcome.delays
            figures |= {
                f"{name}_p50_ms": round(p50 * 1000, 1),
                f"{name}_p99_ms": round(p99 * 1000, 1),
                f"{name}_requests": outcome.requests,
                f"{name}_api_cpu_s": round(used, 2),
                f"{name}_seconds": round(seconds, 1),
            }
        figures["cpu_ratio"] = round(figures["wait_api_cpu_s"] / figures["poll_api_cpu_s"], 3)
    return figures, delays


@dataclass
class _Outcome:
    delays: list[float]  # per caller: seconds from its job's end to its answer
    requests: int


async def _phase(
    base: str, stream: str, plan: WaitPlan, callers: int, *, waiting: bool, tag: str
) -> _Outcome:
    run = uuid.uuid4().hex[:8]
    outcome = _Outcome([], 0)
    connector = aiohttp.TCPConnector(limit=0)  # a connection a caller, as real callers have
    async with aiohttp.ClientSession(base, connector=connector) as http:

        async def caller(n: int) -> None:
            event_id = f"{tag}-{run}-{n:06d}"
            body = {"event_id": event_id, "job": str(n % _KEYS), "rounds": plan.job_ms}
            async with http.post(f"/v1/streams/{stream}/events", json=body) as posted:
                if posted.status != 202:
                    raise RuntimeError(f"POST answered {posted.status}: {await posted.text()}")
            params = {"wait": str(plan.wait_seconds)} if waiting else {}
            while True:
                async with http.get(f"/v1/jobs/{event_id}", params=params) as answer:
                    job = await answer.json()
                answered = time.time()
                outcome.requests += 1
                if answer.status == 200 and job["status"] in _FINAL:
                    ended = datetime.fromisoformat(job["updated_at"]).timestamp()
                    outcome.delays.append(max(answered - ended, 0.0))
                    return
                if answer.status not in (200, 404):  # 404: its row a moment behind the 202
                    raise RuntimeError(f"GET answered {answer.status}: {job}")
                if not waiting or answer.status == 404:
                    await asyncio.sleep(plan.poll_ms / 1000)

        tasks = []
        began = time.monotonic()
        for n in range(callers):
            # Arrivals at the rate, on the clock: a slow moment is caught up, not carried.
            delay = began + n / plan.rate - time.monotonic()
            if delay > 0:
                await asyncio.sleep(delay)
            tasks.append(asyncio.create_task(caller(n)))
        await asyncio.gather(*tasks)
    return outcome


def _cpu_seconds(pid: int) -> float:
    """User and system CPU time of process ``pid`` so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    utime, stime = int(fields[11]), int(fields[12])  # fields 14 and 15 of proc(5)
    return (utime + stime) / os.sysconf("SC_CLK_TCK")
