"""``conveyor bench all``: every benchmark in one run, on one stack, at one scale.

Runs ingest, processing (one worker's throughput), end-to-end latency (at the headline
rate and at each rate of a sweep, and POST to succeeded at the status URL), priorities
(high-priority waits beside a low backlog) and replay, each beside its baseline as the
single benchmarks do, the dashboard's job searches (an absolute), and one worker's jobs
(slow calls beside the ideal and one at a time, CPU-bound ones in the process pool beside
the loop), and gathers their
figures, the latencies behind the percentiles and the machine they ran on into one
:class:`SuiteResult`, which ``bench/summary.py`` and ``bench/plots.py`` write out.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from conveyor.bench.dashboard import bench_dashboard
from conveyor.bench.ingest import IngestPlan, bench_ingest
from conveyor.bench.jobs import JobsPlan, bench_jobs
from conveyor.bench.latency import LatencyPlan, bench_latency
from conveyor.bench.priorities import PrioritiesPlan, bench_priorities
from conveyor.bench.process import bench_process
from conveyor.bench.replay import Progress, bench_replay
from conveyor.bench.report import Samples
from conveyor.bench.waiting import WaitPlan, bench_wait
from conveyor.config import Settings

__all__ = ["SuitePlan", "SuiteResult", "run_suite"]

Note = Callable[[str], None]

# Sizes at scale 1: a whole run takes a few minutes on two cores (most of it starting
# the API and worker processes); --scale 5 reaches the sizes of the single benchmarks'
# defaults, whose figures move less from run to run.
_INGEST_EVENTS = 30_000
_INGEST_REQUESTS = 6_000
_PROCESS_EVENTS = 10_000
_LATENCY_SECONDS = 10  # at each rate of the sweep
# Events a second of the latency sweep, besides the headline rate: a trickle, the rate the
# acceptance figures are stated at, and one past what one API process answers on two cores.
_SWEEP = (100, 1_000, 5_000)
_PRIORITY_BACKLOG = 10_000
_PRIORITY_HIGH = 200
_REPLAY_RECORDS = 200_000
# The dashboard's acceptance is stated at 100,000 jobs in the store; searches of each kind.
_DASHBOARD_JOBS = 100_000
_DASHBOARD_SEARCHES = 200
# The jobs' acceptance is stated at 5,000 jobs of 100 ms at concurrency 100; one at a time
# they take 0.1 s each, so the baseline runs fewer (its rate is what is compared).
_JOBS = 5_000
_SERIAL_JOBS = 200
_CPU_JOBS = 70  # a round, on each side
# Callers of `bench wait`, in each of its two phases (waiting, polling), at its rate.
_WAIT_CALLERS = 10_000


@dataclass(frozen=True)
class SuitePlan:
    scale: float = 1.0
    rate: int = 1_000  # events a second for the headline end-to-end latency
    rounds: int = 3  # interleaved rounds of ingest, replay and CPU-bound jobs, medians reported

    def _sized(self, base: int, least: int) -> int:
        return max(round(base * self.scale), least)

    def ingest(self) -> IngestPlan:
        return IngestPlan(
            events=self._sized(_INGEST_EVENTS, 1_000),
            single_requests=self._sized(_INGEST_REQUESTS, 500),
            rounds=self.rounds,
        )

    @property
    def process_events(self) -> int:
        return self._sized(_PROCESS_EVENTS, 1_000)

    def latency(self) -> LatencyPlan:
        return LatencyPlan(
            rates=tuple(sorted({*_SWEEP, self.rate})),
            headline=self.rate,
            seconds=self._sized(_LATENCY_SECONDS, 1),
        )

    def priorities(self) -> PrioritiesPlan:
        # High orders at a tenth of the latency rate: a trickle, finished well before the
        # backlog at any scale (the worker drains thousands a second).
        return PrioritiesPlan(
            backlog=self._sized(_PRIORITY_BACKLOG, 1_000),
            high=self._sized(_PRIORITY_HIGH, 100),
            rate=max(self.rate // 10, 10),
        )

    @property
    def replay_records(self) -> int:
        return self._sized(_REPLAY_RECORDS, 1_000)

    @property
    def dashboard_jobs(self) -> int:
        return self._sized(_DASHBOARD_JOBS, 1_000)

    def wait(self) -> WaitPlan:
        return WaitPlan(callers=self._sized(_WAIT_CALLERS, 500))

    def jobs(self) -> JobsPlan:
        return JobsPlan(
            jobs=self._sized(_JOBS, 200),
            serial_jobs=self._sized(_SERIAL_JOBS, 20),
            cpu_jobs=self._sized(_CPU_JOBS, 10),
            rounds=self.rounds,
        )


@dataclass(frozen=True)
class SuiteResult:
    # by benchmark: ingest, process, end_to_end, priorities, replay, dashboard, jobs, wait
    figures: dict[str, dict[str, Any]]
    # latencies in seconds: api_single, e2e, raw_e2e, raw_txn_e2e, status, priority_high,
    # priority_low, wait_answer, poll_answer
    samples: Samples
    machine: dict[str, Any]
    began: datetime
    seconds: float  # the whole run


_STEPS = 8


def run_suite(
    settings: Settings,
    plan: SuitePlan,
    machine: dict[str, Any],
    note: Note,
    progress: Progress,
) -> SuiteResult:
    began, clock = datetime.now(UTC), time.monotonic()

    def step(n: int, what: str) -> None:
        note(f"[{n}/{_STEPS}] {what} ({time.monotonic() - clock:.0f} s so far)")

    step(1, "ingest: API batches and single events beside the bare producer")
    ingest, ingest_samples = bench_ingest(settings, plan.ingest(), note)
    step(2, "processing: one worker beside the raw loops")
    processed = bench_process(settings, plan.process_events, note)
    step(3, "end to end: the API and a worker beside the raw loops, at each rate")
    end_to_end, latency_samples = bench_latency(settings, plan.latency(), note)
    step(4, "priorities: high-priority orders beside a low backlog")
    priorities, priority_samples = bench_priorities(settings, plan.priorities(), note)
    step(5, "replay: re-publishing a topic beside the raw copy loop")
    replay = bench_replay(settings, plan.replay_records, note, progress, plan.rounds)
    step(6, f"dashboard: job searches among {plan.dashboard_jobs:,} jobs in the store")
    dashboard = bench_dashboard(plan.dashboard_jobs, _DASHBOARD_SEARCHES, note)
    step(7, "jobs: slow calls beside the ideal and one at a time, CPU-bound beside the loop")
    jobs = bench_jobs(settings, plan.jobs(), note)
    step(8, "wait: callers waiting on their jobs beside the same callers polling")
    wait, wait_samples = bench_wait(settings, plan.wait(), note)
    note(f"all benchmarks done in {time.monotonic() - clock:.0f} s")

    return SuiteResult(
        figures={
            "ingest": ingest,
            "process": processed,
            "end_to_end": end_to_end,
            "priorities": priorities,
            "replay": replay,
            "dashboard": dashboard,
            "jobs": jobs,
            "wait": wait,
        },
        samples={**ingest_samples, **latency_samples, **priority_samples, **wait_samples},
        machine=machine,
        began=began,
        seconds=time.monotonic() - clock,
    )
