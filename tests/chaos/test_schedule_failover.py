"""A schedule across a failover: two workers, the leader SIGKILLed mid-run, every tick
fired exactly once (on the topic, in the result store and as an e-mail), none skipped."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from contextlib import AbstractContextManager, ExitStack
from datetime import datetime, timedelta
from itertools import pairwise
from pathlib import Path
from typing import Any

from conveyor.processors.pipeline.notifications import message_id
from support.events import read_all
from support.waiting import wait_for
from support.workers import Pipeline, job_statuses, outbox_size, worker_process

SCHEDULE = {
    "every": "1s",
    "event": {"recipient": "ops@example.test", "subject": "tick", "body": "still here"},
}
PREFIX = "schedule.notifications.tick."


def test_each_tick_fires_once_when_the_leader_is_killed(
    make_pipeline: Callable[..., AbstractContextManager[Pipeline]], tmp_path: Path
) -> None:
    with make_pipeline(workers=0, notifications={"schedules": {"tick": SCHEDULE}}) as pipeline:
        _failover_story(pipeline, tmp_path)


def _fired_by(log: Path) -> int:
    return log.read_text(errors="replace").count("schedule fired") if log.exists() else 0


def _failover_story(pipeline: Pipeline, tmp_path: Path) -> None:
    settings = pipeline.settings.model_copy(
        update={
            "workers": pipeline.settings.workers.model_copy(update={"session_timeout_seconds": 6.0})
        }
    )
    logs = {n: tmp_path / f"worker-{n}.log" for n in (1, 2)}
    with ExitStack() as stack:
        workers = {
            n: stack.enter_context(worker_process(settings, tmp_path, f"worker-{n}", n))
            for n in (1, 2)
        }
        leader = wait_for(
            lambda: next((n for n, log in logs.items() if _fired_by(log) >= 4), None),
            timeout=60,
            what="a leader firing ticks",
        )
        workers[leader].kill()
        workers[leader].wait()
        survivor = logs[3 - leader]
        wait_for(lambda: _fired_by(survivor) >= 5, timeout=60, what="the survivor firing ticks")

    # A last worker without the schedule publishes and processes what was fired.
    stream = settings.streams["notifications"]
    unscheduled = stream.model_copy(update={"schedules": {}})
    drain = settings.model_copy(
        update={"streams": {**settings.streams, "notifications": unscheduled}}
    )
    with worker_process(drain, tmp_path, "worker-3", 1):
        wait_for(lambda: outbox_size(drain) == 0, timeout=60, what="the outbox published")
        records = [r for r in read_all(drain, stream.topic) if _ce_id(r).startswith(PREFIX)]
        wait_for(
            lambda: job_statuses(drain) == {"succeeded": len(records)},
            timeout=60,
            what=f"{len(records)} ticks processed",
        )

    on_topic = Counter(_ce_id(r) for r in records)
    ticks = sorted(_tick_of(r) for r in records)
    print(f"{len(ticks)} ticks, from {ticks[0]:%H:%M:%S} to {ticks[-1]:%H:%M:%S}")
    assert set(on_topic.values()) == {1}
    assert all(b - a == timedelta(seconds=1) for a, b in pairwise(ticks))
    # The ticks due while no worker led were fired late, by the survivor.
    late = [r for r in records if (r["timestamp"] - _tick_of(r)).total_seconds() > 3]
    assert late, "no tick fell into the failover"
    mails = Counter(m["Message-ID"] for m in pipeline.mail.messages())
    assert mails == Counter({message_id(i): 1 for i in on_topic})


def _ce_id(record: dict[str, Any]) -> str:
    return bytes(record["headers"]["ce_id"]).decode()


def _tick_of(record: dict[str, Any]) -> datetime:
    return datetime.strptime(_ce_id(record)[len(PREFIX) :], "%Y%m%dT%H%M%S.%f%z")
