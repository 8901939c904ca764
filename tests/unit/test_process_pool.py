"""The process pool: jobs run in other processes while the loop goes on; a job given up
has its process killed and replaced; progress comes back."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

import pytest

from conveyor.config import Settings, load_settings
from conveyor.config.streams import parse_stream
from conveyor.kafka.events import Event
from conveyor.processors.exceptions import ProcessorError
from conveyor.processors.handler import Progress, RunningJob
from conveyor.processors.process_pool import ProcessPool


def _settings(tmp_path: Path, handler: str) -> Settings:
    stream = parse_stream(
        "spins",
        {"schema": "notifications.avsc", "key": "recipient", "handler": handler},
    )
    base = load_settings()
    return base.model_copy(
        update={"streams": {"spins": stream}, "database_url": f"sqlite:///{tmp_path}/db"}
    )


def _event(event_id: str, spin_ms: int) -> Event:
    return Event(event_id, {"spin_ms": spin_ms}, None, None, {}, "spins", 0, 0)


def _job(event_id: str, reports: list[Progress] | None = None) -> RunningJob:
    def report(_event_id: str, progress: Progress) -> None:
        if reports is not None:
            reports.append(progress)

    return RunningJob(event_id, report)


def test_a_cpu_bound_job_runs_in_another_process_while_the_loop_goes_on(tmp_path: Path) -> None:
    async def story() -> None:
        pool = ProcessPool(_settings(tmp_path, "support.job_handlers:SpinHandler"), "spins", 1)
        reports: list[Progress] = []
        try:
            cpu = asyncio.create_task(pool.run(_event("cpu", 1_500), _job("cpu", reports)))
            ticks = 0
            while not cpu.done():
                await asyncio.sleep(0.01)
                ticks += 1
            processed = await cpu
            assert processed.result["pid"] != os.getpid()
            assert processed.result["pid"] in pool.pids()
            assert ticks >= 10  # the loop kept turning while the handler held its CPU
            assert reports
            assert all(0 <= r.fraction <= 1 and r.message == "spinning" for r in reports)
        finally:
            pool.close()

    asyncio.run(story())


def test_a_job_given_up_has_its_process_killed_and_replaced(tmp_path: Path) -> None:
    async def story() -> None:
        pool = ProcessPool(_settings(tmp_path, "support.job_handlers:SpinHandler"), "spins", 1)
        try:
            first = await pool.run(_event("warm", 0), _job("warm"))
            with pytest.raises(TimeoutError):
                async with asyncio.timeout(0.5):
                    await pool.run(_event("forever", -1), _job("forever"))
            second = await pool.run(_event("next", 0), _job("next"))
            assert second.result["pid"] != first.result["pid"]
            assert pool.pids() == {second.result["pid"]}
        finally:
            pool.close()

    asyncio.run(story())


def test_a_handler_that_cannot_be_built_in_its_process_fails_the_jobs(tmp_path: Path) -> None:
    async def story() -> None:
        pool = ProcessPool(_settings(tmp_path, "support.job_handlers:BrokenHandler"), "spins", 1)
        try:
            for event_id in ("one", "two"):
                with pytest.raises(ProcessorError, match="no handler today"):
                    await pool.run(_event(event_id, 0), _job(event_id))
        finally:
            pool.close()

    asyncio.run(story())
