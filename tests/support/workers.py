"""Worker processes for a test's own stack, ready once they hold partitions."""

from __future__ import annotations

import subprocess
from collections import Counter
from collections.abc import Iterator
from contextlib import AbstractContextManager, ExitStack, contextmanager
from dataclasses import dataclass
from functools import partial
from pathlib import Path

from fastapi.testclient import TestClient
from sqlalchemy import create_engine, func, select

from conveyor.config import Settings
from conveyor.infra.mail import LocalMailServer
from conveyor.infra.services import conveyor_service, service_env
from conveyor.kafka.admin import admin_client
from conveyor.monitoring.groups import has_stable_members
from conveyor.store.tables import jobs, outbox


@dataclass
class Pipeline:
    """A test's whole stack: the API in-process, worker processes, a mail server."""

    settings: Settings
    api: TestClient
    mail: LocalMailServer


def worker_process(
    settings: Settings, directory: Path, name: str, members: int, verbosity: str = "-v"
) -> AbstractContextManager[subprocess.Popen[bytes]]:
    """A ``conveyor worker`` on ``settings``, ready once the group is stable with
    ``members`` members; its log (at INFO, ``verbosity="-vv"`` for DEBUG) is
    ``directory/<name>.log``."""
    env = service_env(settings, directory / "conveyor.yaml")
    admin = admin_client(settings.kafka)
    ready = partial(has_stable_members, admin, settings.workers.group_id, members)
    return conveyor_service([verbosity, "worker"], env, directory / f"{name}.log", ready)


@contextmanager
def running_workers(
    settings: Settings, directory: Path, count: int = 1
) -> Iterator[list[subprocess.Popen[bytes]]]:
    """``count`` ``conveyor worker`` processes on ``settings``; logs in ``directory``."""
    with ExitStack() as stack:
        yield [
            stack.enter_context(worker_process(settings, directory, f"worker-{n}", n))
            for n in range(1, count + 1)
        ]


def job_statuses(settings: Settings) -> Counter[str]:
    engine = create_engine(settings.database_url)
    try:
        with engine.connect() as conn:
            rows = conn.execute(select(jobs.c.status, func.count()).group_by(jobs.c.status))
            return Counter({status: count for status, count in rows})
    finally:
        engine.dispose()


def outbox_size(settings: Settings) -> int:
    engine = create_engine(settings.database_url)
    try:
        with engine.connect() as conn:
            return int(conn.execute(select(func.count()).select_from(outbox)).scalar_one())
    finally:
        engine.dispose()
