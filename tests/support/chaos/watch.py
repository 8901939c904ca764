"""How far a chaos run has got: jobs settled, the workers' lag, the outbox.

Recovery after the last fault is measured against where things stood when that fault was
over: the workers have recovered once their group has committed past every record that was
on the input topics then, and the outbox relay has published every result decided by then,
so the load that goes on after it does not count against them.
"""

from __future__ import annotations

from collections import Counter

from sqlalchemy import create_engine, func, select

from conveyor.config import Settings
from conveyor.kafka.exceptions import KafkaQueryError
from conveyor.monitoring.lag import measure_lag
from conveyor.store.jobs import FINAL_STATUSES
from conveyor.store.tables import jobs, outbox
from support.chaos.stack import ChaosStack

__all__ = ["StoreWatch", "caught_up", "input_ends"]

Ends = dict[tuple[str, int], int]


class StoreWatch:
    """Counts in the result store, on one engine for the whole run."""

    def __init__(self, settings: Settings, due: int) -> None:
        self._engine = create_engine(settings.database_url)
        self._due = due

    def statuses(self) -> Counter[str]:
        with self._engine.connect() as conn:
            rows = conn.execute(select(jobs.c.status, func.count()).group_by(jobs.c.status))
            return Counter({status: count for status, count in rows})

    def progress(self) -> float:
        """The share of the events due that are settled."""
        settled = self.statuses()
        return sum(settled[s.value] for s in FINAL_STATUSES) / self._due

    def drained(self) -> bool:
        """No job waits and the outbox is published."""
        statuses = self.statuses()
        if statuses["queued"] or statuses["processing"]:
            return False
        with self._engine.connect() as conn:
            return conn.execute(select(func.count()).select_from(outbox)).scalar_one() == 0

    def last_decided(self) -> int:
        """The seq of the newest outbox record (0 if there never was one)."""
        with self._engine.connect() as conn:
            return int(conn.execute(select(func.coalesce(func.max(outbox.c.seq), 0))).scalar_one())

    def published_through(self, seq: int) -> bool:
        """Whether the relay has published every outbox record up to ``seq`` (it prunes
        what it published)."""
        with self._engine.connect() as conn:
            waiting = select(func.count()).select_from(outbox).where(outbox.c.seq <= seq)
            return conn.execute(waiting).scalar_one() == 0

    def close(self) -> None:
        self._engine.dispose()


def _consumed(stack: ChaosStack) -> list[str]:
    return [t for s in stack.settings.streams.values() for t in s.consumed_topics]


def input_ends(stack: ChaosStack) -> Ends | None:
    """Where every partition the workers consume ends now (None if Kafka does not say)."""
    try:
        lag = measure_lag(stack.admin, stack.settings.workers.group_id, _consumed(stack))
    except KafkaQueryError:
        return None
    return {key: p.end for key, p in lag.items()}


def caught_up(stack: ChaosStack, ends: Ends | None = None) -> bool:
    """Whether the workers' group has committed up to ``ends`` (by default: to the end)."""
    try:
        lag = measure_lag(stack.admin, stack.settings.workers.group_id, _consumed(stack))
    except KafkaQueryError:
        return False
    targets = {key: p.end if ends is None else ends[key] for key, p in lag.items()}
    return all(
        targets[key] <= p.start or (p.committed is not None and p.committed >= targets[key])
        for key, p in lag.items()
    )
