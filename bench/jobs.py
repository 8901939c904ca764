"""``conveyor bench jobs``: many slow jobs in flight in one worker, and CPU-bound jobs in
processes, each beside its baseline in the same run.

One ``conveyor worker`` process serves four streams of the bench's own, each fed in its
turn by the bare producer while the others idle:

- *calls*: jobs whose ``async def`` handler GETs a real HTTP service on loopback that
  answers after ``delay_ms`` (``bench/slow_service.py``), at ``concurrency``. Beside it, the
  ideal, ``concurrency / delay``: every slot busy all the time, nothing else costing a thing.
- *calls, one at a time*: the same handler and service at concurrency 1, which is the
  engine running one job at a time (the worker as it was before it ran jobs concurrently).
  At 100 ms a job it does 10 a second, so it runs ``serial_jobs``, far fewer: rates are
  compared, not times.
- *CPU-bound*: the same pure-Python arithmetic (``cpu_ms`` of it, as timed here first) in
  the stream's process pool (``executor: process``, a process a core) beside an
  ``async def`` handler doing it on the worker's loop, in interleaved rounds (medians):
  what else the machine runs takes cores from the pool and the loop alike.

Each stream first runs a few unmeasured jobs (its connections opened, its pool's
processes started); then the measured ones, whose clock runs from the first one's claim
(``started_at``) to the last one's settle (``updated_at``), both written by the worker.
"""

from __future__ import annotations

import statistics
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, func, select

from conveyor.bench.job_handlers import crunch
from conveyor.bench.services import bench_settings, bench_stream, worker_process
from conveyor.bench.slow_service import slow_service
from conveyor.config import Settings, StreamDeclaration
from conveyor.processors.process_pool import pool_size
from conveyor.producers.direct import DirectProducer
from conveyor.store.jobs import FINAL_STATUSES
from conveyor.store.tables import jobs

__all__ = ["JobsPlan", "bench_jobs"]

Note = Callable[[str], None]

_SCHEMA = Path(__file__).with_name("jobs.avsc")
_HANDLERS = "conveyor.bench.job_handlers"
# Distinct keys; the streams are relaxed, so they order nothing.
_KEYS = 1_000
_SIDES = {"loop": "on the loop", "pool": "in the process pool"}


@dataclass(frozen=True)
class JobsPlan:
    jobs: int = 5_000  # calls of the slow service at ``concurrency``
    concurrency: int = 100
    serial_jobs: int = 200  # the same calls at concurrency 1
    delay_ms: int = 100  # how long the service takes to answer
    cpu_jobs: int = 70  # a round, on each side: the process pool and the loop
    cpu_ms: int = 50  # the arithmetic of one CPU-bound job, as timed in the bench's process
    rounds: int = 3  # of the CPU-bound jobs, each side in turn; medians reported


def bench_jobs(settings: Settings, plan: JobsPlan, note: Note) -> dict[str, Any]:
    """Calls at ``concurrency`` beside the ideal and one at a time; CPU-bound jobs in the
    process pool beside the loop: jobs/s and their ratios."""
    rounds = _rounds_for(plan.cpu_ms)
    note(f"jobs: {plan.cpu_ms} ms of arithmetic is {rounds:,} rounds on this machine")
    declared = {
        "calls": _declare("calls", "CallService", plan.concurrency),
        "serial": _declare("serial", "CallService", 1),
        "pool": _declare("pool", "Crunch", plan.concurrency, executor="process"),
        "loop": _declare("loop", "CrunchOnLoop", plan.concurrency),
    }
    with_streams = settings.model_copy(update={"streams": {s.name: s for s in declared.values()}})
    streams = {side: bench_stream(with_streams, s.name, "jobs") for side, s in declared.items()}
    processes = pool_size()
    with (
        slow_service(plan.delay_ms / 1000) as url,
        bench_settings(settings, *streams.values()) as config,
        worker_process(config) as worker,
    ):
        run = _Runner(config, worker, note)
        try:
            calls = run(streams["calls"], _calls(url), plan.jobs, warmup=plan.concurrency)
            serial = run(streams["serial"], _calls(url), plan.serial_jobs, warmup=5)
            crunched = _crunches(rounds)
            loops: list[float] = []
            pools: list[float] = []
            for n in range(1, plan.rounds + 1):
                warmup = 2 * processes if n == 1 else 0
                for side, rates in (("loop", loops), ("pool", pools)):
                    note(f"jobs: round {n}/{plan.rounds}, CPU-bound jobs {_SIDES[side]}")
                    rates.append(
                        run(streams[side], crunched, plan.cpu_jobs, warmup=warmup, tag=f"r{n}")
                    )
        finally:
            run.close()
    ideal = plan.concurrency / (plan.delay_ms / 1000)
    pool, loop = statistics.median(pools), statistics.median(loops)
    return {
        "jobs": plan.jobs,
        "concurrency": plan.concurrency,
        "delay_ms": plan.delay_ms,
        "concurrent_jobs_per_s": round(calls, 1),
        "ideal_jobs_per_s": round(ideal, 1),
        "ideal_ratio": round(calls / ideal, 3),
        "serial_jobs": plan.serial_jobs,
        "serial_jobs_per_s": round(serial, 2),
        "serial_ratio": round(calls / serial, 3),
        "cpu_jobs": plan.cpu_jobs,
        "cpu_job_ms": plan.cpu_ms,
        "cpu_rounds": rounds,
        "rounds": plan.rounds,
        "pool_processes": processes,
        "pool_jobs_per_s": round(pool, 2),
        "loop_jobs_per_s": round(loop, 2),
        "pool_ratio": round(pool / loop, 3),
        "pool_rounds": [round(r, 2) for r in pools],
        "loop_rounds": [round(r, 2) for r in loops],
    }


def _declare(
    side: str, handler: str, concurrency: int, executor: str = "auto"
) -> StreamDeclaration:
    return StreamDeclaration.model_validate(
        {
            "name": f"bench-jobs-{side}",
            "schema": str(_SCHEMA),
            "key": "job",
            "partitions": 6,
            "ordering": "relaxed",
            "handler": f"{_HANDLERS}:{handler}",
            "concurrency": concurrency,
            "executor": executor,
            # A job that fails fails the bench: no retry tiers to wait on.
            "retry": {"attempts": 1},
        }
    )


def _rounds_for(milliseconds: int) -> int:
    """Rounds of :func:`crunch` that take ``milliseconds`` here (the quickest of a few
    tries, the one least disturbed by whatever else the machine does)."""
    probe = 200_000
    took = []
    for _ in range(5):
        began = time.perf_counter()
        crunch(probe)
        took.append(time.perf_counter() - began)
    return max(round(probe * milliseconds / 1000 / min(took)), 1)


Job = Callable[[str, int], dict[str, Any]]


def _calls(url: str) -> Job:
    return lambda event_id, n: {"event_id": event_id, "job": str(n % _KEYS), "url": url}


def _crunches(rounds: int) -> Job:
    return lambda event_id, n: {"event_id": event_id, "job": str(n % _KEYS), "rounds": rounds}


class _Runner:
    """Feeds a stream of the worker its jobs and times them from the result store."""

    def __init__(self, config: Settings, worker: subprocess.Popen[bytes], note: Note) -> None:
        self._config = config
        self._worker = worker
        self._note = note
        self._store: Engine = create_engine(config.database_url)
        self._sent: dict[str, int] = {}

    def close(self) -> None:
        self._store.dispose()

    def __call__(
        self,
        stream: StreamDeclaration,
        job: Job,
        count: int,
        *,
        warmup: int = 0,
        tag: str = "measured",
    ) -> float:
        """Jobs/s of ``count`` jobs (their ids tagged ``tag``), after ``warmup`` unmeasured
        ones have settled."""
        label = stream.name.removeprefix("bench-jobs-")
        measured = f"{stream.name}-{tag}-"
        with DirectProducer(self._config, stream) as producer:
            if warmup:
                self._note(f"jobs ({label}): {warmup:,} jobs to warm up, not measured")
                self._send(
                    producer,
                    stream,
                    [job(f"{stream.name}-warmup-{n:06d}", n) for n in range(warmup)],
                )
            self._note(f"jobs ({label}): {count:,} jobs")
            self._send(producer, stream, [job(f"{measured}{n:06d}", n) for n in range(count)])
        ours = select().where(jobs.c.event_id.startswith(measured, autoescape=True))
        with self._store.connect() as conn:
            began, ended, settled = conn.execute(
                ours.add_columns(
                    func.min(jobs.c.started_at), func.max(jobs.c.updated_at), func.count()
                )
            ).one()
            failed = conn.execute(
                ours.add_columns(jobs.c.event_id, jobs.c.status, jobs.c.error)
                .where(jobs.c.status != "succeeded")
                .limit(1)
            ).first()
        if failed is not None or settled != count:
            raise RuntimeError(
                f"{stream.name}: {settled:,} of {count:,} jobs settled, not all succeeded "
                f"(e.g. {failed}); see the worker's log, {self._config.data_dir}/worker.log"
            )
        # SQLite keeps the worker's UTC times without their zone.
        seconds: float = (ended.replace(tzinfo=UTC) - began.replace(tzinfo=UTC)).total_seconds()
        rate = count / seconds
        self._note(f"jobs ({label}): {count:,} in {seconds:.2f} s, {rate:,.1f} jobs/s")
        return rate

    def _send(
        self, producer: DirectProducer, stream: StreamDeclaration, events: list[dict[str, Any]]
    ) -> None:
        """Send ``events`` and wait until they and all sent before them have settled."""
        producer.send(events)
        self._sent[stream.name] = self._sent.get(stream.name, 0) + len(events)
        self._wait(stream.name, self._sent[stream.name], stream.name.removeprefix("bench-jobs-"))

    def _wait(self, stream: str, expected: int, label: str) -> None:
        final = [s.value for s in FINAL_STATUSES]
        query = (
            select(func.count())
            .select_from(jobs)
            .where(jobs.c.stream == stream, jobs.c.status.in_(final))
        )
        next_note = time.monotonic() + 2.0
        while True:
            with self._store.connect() as conn:
                done = conn.execute(query).scalar_one()
            if done >= expected:
                return
            if (status := self._worker.poll()) is not None:
                raise RuntimeError(f"the worker exited with status {status} during the bench")
            if time.monotonic() >= next_note:
                self._note(f"jobs ({label}): {done:,}/{expected:,} settled")
                next_note = time.monotonic() + 2.0
            time.sleep(0.1)
