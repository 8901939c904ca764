"""Retry and delay tiers: topics whose records wait for their time before processing.

Every record on a tier carries ``conveyor.not.before`` (Unix ms), the earliest time it
may be processed. A retry tier's records wait for exactly that. A delay tier holds a
record at most the tier's length after it landed: then the record is processed if it is
due, or moved on to the tier its remaining wait calls for (``config/delays.py``). Within
a batch, records leave in the order they fall due, none waiting for a later one.

The agent holds its batch while it waits, and Faust acks a batch as the agent lets go
of it: a worker stopped mid-wait would have its waiting records acked unprocessed. So
what is left of a batch on the way out is first put back on its tier. Moves go through
the outbox, like every record a worker writes, and the relay publishes them.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Sequence
from functools import partial

from conveyor.common.backoff import Backoff
from conveyor.kafka.events import Consumed
from conveyor.kafka.headers import NOT_BEFORE, moved_headers
from conveyor.kafka.records import OutboxRecord
from conveyor.processors.completion import finish, until_done
from conveyor.processors.engine import Engine
from conveyor.store.results import OutboxValues, append_outbox

__all__ = ["WaitingTier", "not_before"]

log = logging.getLogger(__name__)

# Waits between tries of a move the result store could not take: an outage holds the
# tier, it never drops a record.
_STORE_BACKOFF = Backoff(base=0.5, cap=30.0)

# A record waiting: when it leaves its tier, when it is due (Unix seconds), and itself.
_Waiting = tuple[float, float, Consumed]


def not_before(record: Consumed) -> float:
    """When ``record`` is due, in Unix seconds (0: now, if it carries no time, or one that
    is not a number: the tier must not stall on it, and processing judges the record)."""
    for name, value in record.headers:
        if name == NOT_BEFORE and value is not None:
            with contextlib.suppress(ValueError):
                return int(value) / 1000
    return 0.0


class WaitingTier:
    """The batches of one tier: ``hold_ms`` is a delay tier's length, None for a retry tier."""

    def __init__(self, engine: Engine, hold_ms: int | None) -> None:
        self._engine = engine
        self._stream = engine.processor.context.stream
        self._store = engine.processor.context.store
        self._hold = None if hold_ms is None else hold_ms / 1000

    async def handle(self, batch: Sequence[Consumed]) -> None:
        """Process each record of ``batch`` once due (moving on those that only leave the
        tier); returns when none is left."""
        pending = sorted((self._waiting(record) for record in batch), key=lambda w: w[0])
        try:
            while pending:
                now = time.time()
                leaving = 0
                while leaving < len(pending) and pending[leaving][0] <= now:
                    leaving += 1
                if not leaving:
                    await asyncio.sleep(pending[0][0] - now)
                    continue
                ready, rest = pending[:leaving], pending[leaving:]
                try:
                    await finish(self._release(ready, now))
                finally:
                    pending = rest  # released, even if cancelled meanwhile
        except asyncio.CancelledError:
            if pending:
                await finish(self._move([(w[2], w[2].topic) for w in pending]))
            raise

    def _waiting(self, record: Consumed) -> _Waiting:
        due = not_before(record)
        leaves = due if self._hold is None else min(due, record.timestamp + self._hold)
        return leaves, due, record

    async def _release(self, ready: list[_Waiting], now: float) -> None:
        due = [record for _, at, record in ready if at <= now]
        onward = [(record, self._tier(at - now)) for _, at, record in ready if at > now]
        if onward:
            await self._move(onward)
        if due:
            await self._engine.process(due)

    def _tier(self, remaining: float) -> str:
        delays = self._stream.delays
        assert delays is not None  # only a delay tier holds records that are not due
        return self._stream.delay_topics[delays.tier_for(remaining * 1000)]

    async def _move(self, moves: list[tuple[Consumed, str]]) -> None:
        """Queue each record for its topic in the outbox; returns once it is written."""
        rows = [OutboxRecord(topic, r.key, r.value, moved_headers(r)).row() for r, topic in moves]

        def complain(exc: Exception, delay: float) -> None:
            log.error(
                "tier move not written; trying again stream=%s records=%d retry_in=%.1fs error=%r",
                self._stream.name,
                len(rows),
                delay,
                exc,
            )

        await until_done(
            lambda: self._store.write(partial(self._append, rows)), _STORE_BACKOFF, complain
        )

    def _append(self, rows: list[OutboxValues]) -> None:
        with self._store.engine.begin() as conn:
            append_outbox(conn, rows)
