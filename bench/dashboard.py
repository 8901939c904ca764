"""``conveyor bench dashboard``: the jobs page's searches against a store of 100,000 jobs.

A fresh SQLite store is filled with jobs of every stream and status over a day, the
dashboard's indexes made as its API makes them, then each kind of search the jobs page
sends is timed, first page and the next: p50 and p99 in milliseconds.
"""

from __future__ import annotations

import random
import statistics
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from conveyor.store import JobRecord, JobStatus, JobStore
from conveyor.store.search import JobQuery, create_search_indexes, search_jobs

__all__ = ["bench_dashboard"]

Note = Callable[[str], None]

_STREAMS = ("orders", "notifications")
_BATCH = 10_000
_KEYS = 5_000  # partition keys (customers, recipients) the jobs spread over


def bench_dashboard(jobs: int, searches: int, note: Note) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="conveyor-bench-dashboard-") as directory:
        store = JobStore(f"sqlite:///{Path(directory) / 'conveyor.db'}")
        try:
            store.create_schema()
            note(f"filling the store with {jobs:,} jobs")
            ids = _fill(store, jobs)
            create_search_indexes(store.engine)
            return _time_searches(store, ids, searches, note) | {"jobs": jobs}
        finally:
            store.dispose()


def _fill(store: JobStore, jobs: int) -> list[str]:
    rng = random.Random(19)  # noqa: S311 - sample data, not secrets
    start = datetime.now(UTC) - timedelta(days=1)
    # Most jobs succeed; the rest spread over the other statuses, as in a store in use.
    weights = {JobStatus.SUCCEEDED: 85, JobStatus.PROCESSING: 2, JobStatus.FAILED: 3}
    statuses = list(JobStatus)
    shares = [weights.get(status, 5) for status in statuses]
    ids: list[str] = []
    for first in range(0, jobs, _BATCH):
        batch = []
        for n in range(first, min(first + _BATCH, jobs)):
            accepted = start + timedelta(seconds=86_400 * n / jobs)
            stream = _STREAMS[n % len(_STREAMS)]
            batch.append(
                JobRecord(
                    f"bench-{n:08d}",
                    stream,
                    stream,
                    n % 6,
                    n // 6,
                    rng.choices(statuses, weights=shares)[0],
                    accepted,
                    accepted + timedelta(milliseconds=rng.randint(5, 5_000)),
                    key=f"c-{n % _KEYS:05d}",
                )
            )
        store.record_queued(batch)
        ids.extend(job.event_id for job in batch)
    return ids


def _time_searches(store: JobStore, ids: list[str], searches: int, note: Note) -> dict[str, Any]:
    rng = random.Random(7)  # noqa: S311 - which search, not a secret
    now = datetime.now(UTC)
    kinds: dict[str, Callable[[], JobQuery]] = {
        "by event_id": lambda: JobQuery(event_id=rng.choice(ids)),
        "newest": JobQuery,
        "by key": lambda: JobQuery(key=f"c-{rng.randrange(_KEYS):05d}"),
        "by stream": lambda: JobQuery(stream=rng.choice(_STREAMS)),
        "by status": lambda: JobQuery(status=rng.choice(list(JobStatus))),
        "by stream, status and hour": lambda: JobQuery(
            stream=rng.choice(_STREAMS),
            status=JobStatus.FAILED,
            since=now - timedelta(hours=rng.randint(2, 23)),
            until=now - timedelta(hours=1),
        ),
    }
    millis: list[float] = []
    for kind, query in kinds.items():
        note(f"{searches:,} searches {kind}, each with its next page")
        for _ in range(searches):
            began = time.perf_counter()
            page = search_jobs(store.engine, query())
            if page.next is not None:
                search_jobs(store.engine, JobQuery(after=page.next))
            millis.append((time.perf_counter() - began) * 1000)
    quantiles = statistics.quantiles(millis, n=100)
    return {"searches": len(millis), "search_p50_ms": quantiles[49], "search_p99_ms": quantiles[98]}
