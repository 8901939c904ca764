"""Faults through the whole system: nothing acked is lost, nothing is applied twice.

On a three-broker cluster (RF 3, min ISR 2), the API and the workers run as real
processes; load goes through the HTTP API at a steady rate while a schedule of faults
strikes. Every request is classed by its answer (see ``support/chaos/ledger.py``), and
after the drain the result store, the output topics, the DLQs and the mail server are
held against those classes (``support/chaos/verdict.py``).

Two sizes. By default (the suite, CI): 10,000 events, two workers; the API SIGKILLed and
restarted at 20%, one worker SIGKILLed at 40%. With ``--full``: 100,000 events, three
workers, each SIGKILLed in turn, each broker SIGKILLed and restarted in turn, and the API
SIGKILLed and restarted. The summary table and
a timeline PNG are printed and kept in the test's directory.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest

from conveyor.infra.kafka import LocalCluster
from support.chaos.faults import Fault, FaultSchedule, FiredFault, default_schedule, full_schedule
from support.chaos.ledger import Fate, Ledger
from support.chaos.load import LoadGenerator
from support.chaos.plan import Plan, make_plan
from support.chaos.stack import ChaosStack, chaos_stack
from support.chaos.timeline import Timeline
from support.chaos.verdict import Verdict, judge
from support.chaos.watch import StoreWatch, caught_up, input_ends
from support.waiting import wait_for

RECOVERY_LIMIT = 60.0  # seconds from the end of the last fault until the workers caught up
_PROGRESS_EVERY = 10.0  # seconds between progress lines


@dataclass(frozen=True)
class Size:
    events: int
    poison: int
    workers: int
    rate: float  # events a second through the API
    schedule: Callable[[], list[Fault]]


DEFAULT = Size(10_000, 10, workers=2, rate=500.0, schedule=default_schedule)
FULL = Size(100_000, 100, workers=3, rate=400.0, schedule=full_schedule)


def test_acked_events_are_applied_once_in_order_and_poison_dead_lettered_through_faults(
    request: pytest.FixtureRequest,
    three_nodes: LocalCluster,
    registry_url: str,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    size = FULL if request.config.getoption("full") else DEFAULT
    plan = make_plan(size.events, size.poison, seed=2026)

    def say(line: str) -> None:
        with capsys.disabled():
            print(line, flush=True)

    with chaos_stack(three_nodes, registry_url, tmp_path, size.workers) as stack:
        say(f"\nchaos run: {plan.events:,} events, {size.workers} workers, logs in {tmp_path}")
        run = _ChaosRun(stack, plan, size, say)
        verdict = run.play()

    timeline = tmp_path / "timeline.png"
    run.timeline.draw(timeline, run.fired, f"chaos run, {plan.events:,} events")
    table = verdict.table()
    (tmp_path / "summary.txt").write_text(table + "\n")
    say(
        "\n".join(
            f"fault {f.progress:4.0%} {f.began:6.1f}-{f.ended:6.1f}s {f.name}" for f in run.fired
        )
    )
    say(f"{table}\ntimeline: {timeline}")
    assert len(run.fired) == len(size.schedule())
    assert verdict.problems(RECOVERY_LIMIT) == []


class _ChaosRun:
    def __init__(
        self, stack: ChaosStack, plan: Plan, size: Size, say: Callable[[str], None]
    ) -> None:
        self._stack = stack
        self._plan = plan
        self._size = size
        self._say = say
        self._ledger = Ledger()
        self._watch = StoreWatch(stack.settings, plan.valid_events)
        self.timeline = Timeline()
        self.fired: list[FiredFault] = []
        self._last_note = 0.0

    def play(self) -> Verdict:
        stack, plan = self._stack, self._plan
        self._began = time.monotonic()
        load = LoadGenerator(stack.settings, stack.api_url, plan, self._ledger, self._size.rate)
        schedule = FaultSchedule(stack, self._size.schedule(), self._watch.progress, self._began)
        sending = plan.events / self._size.rate
        load.start()
        schedule.start()
        try:
            self._until(lambda: schedule.done, 3 * sending + 600, "the fault schedule")
            schedule.join()
            self.fired = schedule.fired
            over = self._began + self.fired[-1].ended
            ends = wait_for(lambda: input_ends(stack), timeout=60, what="the input topics' ends")
            decided = self._watch.last_decided()
            self._until(
                lambda: caught_up(stack, ends) and self._watch.published_through(decided),
                300,
                "the workers to catch up and publish",
            )
            recovery = time.monotonic() - over
            self._until(lambda: load.done, 2 * sending + 300, "the load to be sent")
            load.join()
            self._until(
                lambda: self._watch.drained() and caught_up(stack), 300, "every job settled"
            )
            self._note(force=True)
        finally:
            stack.stopping.set()
            load.stop()
            self._watch.close()
        emails = [str(m["Message-ID"]) for m in stack.mail.messages()]
        verdict = judge(stack.settings, plan, self._ledger, emails)
        verdict.recovery_seconds = recovery
        verdict.duration_seconds = time.monotonic() - self._began
        return verdict

    def _until(self, condition: Callable[[], bool], timeout: float, what: str) -> None:
        """Wait for ``condition``, sampling the timeline and noting progress meanwhile."""

        def check() -> bool:
            self._note()
            return condition()

        wait_for(check, timeout=timeout, interval=1.0, what=what)

    def _note(self, force: bool = False) -> None:
        now = time.monotonic() - self._began
        statuses = self._watch.statuses()
        settled = sum(n for s, n in statuses.items() if s not in {"queued", "processing"})
        self.timeline.sample(now, self._ledger.sent, settled)
        if force or now - self._last_note >= _PROGRESS_EVERY:
            self._last_note = now
            ledger = self._ledger
            self._say(
                f"[{now:6.1f}s] sent {ledger.sent:,}  settled {settled:,} "
                f"({settled / self._plan.valid_events:.0%})  acked {ledger.count(Fate.ACKED):,}"
                f"  rejected {ledger.count(Fate.REJECTED):,}"
                f"  indeterminate {ledger.count(Fate.INDETERMINATE):,}"
            )
