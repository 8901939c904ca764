"""One stream's jobs in one worker: many at once, each settled behind the gate, offsets
committed only below the oldest job not settled.

The agent hands each record over (:meth:`Engine.accept`) and goes on at once; the
engine does the rest in three steps, each batched by what piled up while the step
before was busy, so a busy stream pays one result-store statement for many records:

1. *claim*: the records that arrived are decoded and their jobs claimed in one
   transaction, committed before any handler starts (``store/results.py``); a record
   whose job is final (a redelivery) or another stream's (a copy) is settled at once;
2. *run*: claimed jobs wait in line for one of the stream's ``concurrency`` slots (their
   handler on the loop, in a thread or in a process: ``processors/running.py``); on a
   strict stream a key's next job joins the line when the one before it ended
   (``processors/inflight.py``);
3. *settle*: the outcomes that finished are settled in one transaction, the same as a
   batch's were (only jobs not final yet move, and only those have effects).

A record is released to Faust (acked) only once it and every record delivered before it
on its partition are settled, so Faust's committed offset never passes a job that is
still running, and a crash redelivers only what was not settled.

The agent hands records over a batch at a time (up to ``workers.batch_size``), and when
the stream holds ``concurrency`` records it waits for room before the next batch, so a
busy stream claims and settles whole batches as a worker that ran one batch at a time
did. Meanwhile its records pile up in Faust's buffer and Faust stops fetching the
stream's partitions, while its poll (and so the group's heartbeat and
``max.poll.interval``) goes on.

Jobs run in *runners*, tasks that take jobs from the line one after another, never more
runners than slots; a runner about to start a job starts a helper first if more jobs
wait (one at a time), in case this job suspends. A handler that never suspends (the
orders' enrichment) thus runs a whole batch in one runner and one pass of the loop, with
no task per job; jobs that wait on I/O each get a runner of their own within a pass or
two per job. (A task per job, and a key's next job waiting for the settle of the one
before it, had cost a third of a worker's throughput.)
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import deque
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass, field
from functools import partial
from typing import cast

from conveyor.common.backoff import Backoff
from conveyor.kafka.events import Consumed, Event
from conveyor.processors.completion import until_done
from conveyor.processors.inflight import Held, InFlight, Partition
from conveyor.processors.stream_processor import (
    Outcome,
    SettledBatch,
    StreamProcessor,
    log_copy,
)
from conveyor.schemas.exceptions import DecodeError
from conveyor.store import JobStatus
from conveyor.store.results import Claim

__all__ = ["Engine"]

log = logging.getLogger(__name__)

# Waits between tries of a claim or a settle the result store could not take: an outage
# holds the stream, it never dead-letters good events.
_INFRA_BACKOFF = Backoff(base=0.5, cap=30.0)

# Records claimed per transaction at most: a claim of a whole buffer at start-up would
# hold the store's write lock for longer than the jobs it lets start.
_CLAIM_BATCH = 500


class _Batch:
    """Records handed over together whose caller waits until all of them settled."""

    def __init__(self, size: int) -> None:
        self._left = size
        self.settled: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        if not size:
            self.settled.set_result(None)

    def one_settled(self) -> None:
        self._left -= 1
        if not self._left and not self.settled.done():
            self.settled.set_result(None)


@dataclass(eq=False)
class _Job:
    record: Consumed
    ack: Callable[[], object] | None  # releases the record to Faust
    batch: _Batch | None
    event: Event | None = None
    error: DecodeError | None = None
    # The runner running this job, while it does: cancelling it stops this job.
    task: asyncio.Task[None] | None = field(default=None, repr=False)
    cancelled: bool = False  # through the API: stopped, or never started, and settled so


class Engine:
    """The jobs of one stream in this worker (see the module's docstring)."""

    def __init__(
        self, processor: StreamProcessor, wrote: Callable[[], object] = lambda: None
    ) -> None:
        self.processor = processor
        self._store = processor.context.store
        # Called once a settle that wrote to the outbox committed (the relay publishes it at
        # once). A claim's changes (jobs now processing) wait for the round after it: their
        # jobs' settle, mostly, a few ms later, or the relay's timer for a long job; a
        # round of their own took the relay from the settle that followed.
        self._wrote = wrote
        stream = processor.context.stream
        self._name = stream.name
        self._limit = stream.concurrency
        self._book: InFlight[_Job] = InFlight(by_key=stream.ordering == "strict")
        self._arrived: list[Held[_Job]] = []
        self._finished: list[tuple[Held[_Job], Outcome]] = []
        self._running: dict[str, Held[_Job]] = {}  # claimed and not settled, by event id
        self._line: deque[Held[_Job]] = deque()  # may start, once a runner is free
        self._runners: set[asyncio.Task[None]] = set()
        self._helper_due = False  # a runner started and not yet running
        self._wake_claim = asyncio.Event()
        self._wake_settle = asyncio.Event()
        self._room = asyncio.Event()
        self._room.set()
        self._progressed = asyncio.Event()  # set whenever a record settles
        self._steps: list[asyncio.Task[None]] = []

    def __len__(self) -> int:
        """Records held: handed over and not yet released."""
        return len(self._book)

    def running(self) -> dict[str, Held[_Job]]:
        """The jobs claimed and not settled, by event id: each runs now (its ``task``), has
        run, or waits for its key's turn or a runner."""
        return self._running

    def cancel(self, event_id: str) -> None:
        """Stop the job of ``event_id``, cancelled in the store (``processors/cancels.py``),
        or keep it from starting if it waits. It settles as ``cancelled``, which moves
        nothing (the cancel made it final), and its record is released in turn."""
        held = self._running.get(event_id)
        if held is None or held.item.cancelled:
            return
        held.item.cancelled = True
        if held.item.task is not None:
            held.item.task.cancel()

    def held_on(self, topics: Collection[str]) -> bool:
        """Whether any record of ``topics`` is held (priority levels weigh this)."""
        return any(h.tp[0] in topics for h in self._book.unsettled())

    def accept(self, record: Consumed, ack: Callable[[], object]) -> None:
        """Take ``record``; ``ack()`` is called once it may be committed."""
        self._add(record, ack, None)

    async def room(self) -> None:
        """Return when the stream holds fewer records than its ``concurrency``."""
        await self._room.wait()

    async def process(self, batch: Sequence[Consumed]) -> None:
        """Run ``batch`` like any other records, and return once each of them settled
        (for agents that hold their batch: retry and delay tiers, lower priority levels)."""
        waiter = _Batch(len(batch))
        for record in batch:
            self._add(record, None, waiter)
        await waiter.settled

    async def stop(self, partitions: Collection[Partition] | None, grace: float) -> None:
        """Give up ``partitions`` (all, if None): their jobs may finish within ``grace``
        seconds; the rest are stopped and forgotten, for the partitions' next owner to
        do again (they applied nothing). Jobs of a caller waiting on its batch are waited
        for, as that caller would acknowledge them unsettled."""

        def mine(held: Held[_Job]) -> bool:
            return partitions is None or held.tp in partitions

        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(grace):
                await self._until(
                    lambda: not any(mine(h) and not h.item.batch for h in self._book.unsettled())
                )
        tps = {h.tp for h in self._book.unsettled() if mine(h) and h.item.batch is None}
        dropped = self._book.forget(tps)
        self._line = deque(h for h in self._line if h.tp not in tps)
        for held in dropped:
            event = held.item.event
            # If the partition comes back, its redelivered records must run again, not be
            # taken for copies of a job still in hand.
            if event is not None and self._running.get(event.event_id) is held:
                del self._running[event.event_id]
            task = held.item.task
            if task is not None:
                task.cancel()
        await asyncio.gather(*(h.item.task for h in dropped if h.item.task), return_exceptions=True)
        # What was forgotten made room as a settle does: an agent waiting for room would
        # otherwise wait for ever once every record it waited on was dropped.
        self._make_room()
        await self._until(
            lambda: not self._finished and not any(mine(h) for h in self._book.unsettled())
        )
        if dropped:
            log.warning(
                "jobs stopped unsettled; the partitions' next owner runs them again "
                "stream=%s jobs=%d",
                self._name,
                len(dropped),
            )

    async def _until(self, done: Callable[[], bool]) -> None:
        while not done():
            self._progressed.clear()
            await self._progressed.wait()

    def close(self) -> None:
        for task in [*self._steps, *self._runners]:
            task.cancel()

    def _add(
        self, record: Consumed, ack: Callable[[], object] | None, batch: _Batch | None
    ) -> None:
        if not self._steps:
            self._steps = [
                asyncio.create_task(self._claim_step(), name=f"conveyor-claim-{self._name}"),
                asyncio.create_task(self._settle_step(), name=f"conveyor-settle-{self._name}"),
            ]
        held = self._book.add(
            (record.topic, record.partition), record.offset, record.key, _Job(record, ack, batch)
        )
        self._arrived.append(held)
        self._wake_claim.set()
        if len(self._book) >= self._limit:
            self._room.clear()

    async def _claim_step(self) -> None:
        while True:
            await self._wake_claim.wait()
            self._wake_claim.clear()
            while self._arrived:
                arrived = self._arrived[:_CLAIM_BATCH]
                del self._arrived[:_CLAIM_BATCH]
                await self._claim(arrived)

    async def _claim(self, arrived: list[Held[_Job]]) -> None:
        began = time.time_ns()
        first: dict[str, Held[_Job]] = {}
        for held in arrived:
            job = held.item
            job.event, job.error = self.processor.decode(job.record)
            # A second copy of an event (a retried POST, or one still running here after a
            # rebalance handed its partition back) is settled by the first.
            if job.event.event_id not in self._running:
                first.setdefault(job.event.event_id, held)
        events = [h.item.event for h in first.values() if h.item.event is not None]

        def complain(exc: Exception, delay: float) -> None:
            log.error(
                "jobs not claimed; trying again stream=%s records=%d retry_in=%.1fs error=%r",
                self._name,
                len(events),
                delay,
                exc,
            )

        if self.processor.claims:
            claimed = await until_done(
                lambda: self._store.write(partial(self.processor.claim, events)),
                _INFRA_BACKOFF,
                complain,
            )
        else:  # a pure handler's: its settle is the gate (``Handler.pure``)
            claimed = Claim(set(first), {})
        skipped: list[Held[_Job]] = []
        for held in arrived:
            job = held.item
            assert job.event is not None
            event_id = job.event.event_id
            if event_id in claimed.copies:
                log_copy(job.event, claimed.copies[event_id])
            if first.get(event_id) is not held or event_id not in claimed.fresh:
                skipped.append(held)
            elif job.error is not None:
                outcome = Outcome(
                    job.event, JobStatus.DEAD_LETTERED, job.event.attempts + 1, error=job.error
                )
                self._finish(held, outcome)
            else:
                # Held from its claim to its settle, also while it waits for its key's
                # turn: a cancel reaches it, and a second copy of it is not run again.
                self._running[event_id] = held
                if self._book.start(held):
                    self._queue(held)
        if skipped:
            now = time.time_ns()
            self.processor.observe(
                SettledBatch(
                    self._name,
                    len(skipped),
                    {h.item.event.event_id: h.item.event for h in skipped if h.item.event},
                    set(),
                    [],
                    set(),
                    began,
                    now,
                    now,
                )
            )
            for held in skipped:
                self._settled(held)

    def _queue(self, held: Held[_Job]) -> None:
        self._line.append(held)
        self._help()

    def _help(self) -> None:
        """Start a runner if jobs wait, a slot is free and no runner is on its way."""
        if self._line and len(self._runners) < self._limit and not self._helper_due:
            self._helper_due = True
            runner = asyncio.create_task(self._runner(), name=f"conveyor-job-{self._name}")
            self._runners.add(runner)

    async def _runner(self) -> None:
        self._helper_due = False
        task = cast("asyncio.Task[None]", asyncio.current_task())
        try:
            while self._line:
                held = self._line.popleft()
                self._help()
                event = held.item.event
                assert event is not None
                held.item.task = task
                try:
                    if held.item.cancelled:  # while it waited: it never starts
                        outcome = Outcome(event, JobStatus.CANCELLED, event.attempts)
                    else:
                        outcome = await self.processor.attempt(event)
                except asyncio.CancelledError:
                    if not held.item.cancelled:
                        raise  # stopped: forgotten unsettled, for the next owner
                    task.uncancel()  # only its job was cancelled: the runner goes on
                    outcome = Outcome(event, JobStatus.CANCELLED, event.attempts)
                finally:
                    held.item.task = None
                following = self._book.finish(held)
                if following is not None:
                    self._line.appendleft(following)
                self._finish(held, outcome)
        finally:
            self._runners.discard(task)
            self._help()  # a runner stopped with its job (a cancel) leaves the line its due

    def _finish(self, held: Held[_Job], outcome: Outcome) -> None:
        self._finished.append((held, outcome))
        self._wake_settle.set()

    async def _settle_step(self) -> None:
        while True:
            await self._wake_settle.wait()
            self._wake_settle.clear()
            finished, self._finished = self._finished, []
            if finished:
                await self._settle(finished)

    async def _settle(self, finished: list[tuple[Held[_Job], Outcome]]) -> None:
        outcomes = [outcome for _, outcome in finished]

        def complain(exc: Exception, delay: float) -> None:
            log.error(
                "jobs not settled; trying again stream=%s jobs=%d retry_in=%.1fs error=%r",
                self._name,
                len(outcomes),
                delay,
                exc,
            )

        began = min(o.began_ns or time.time_ns() for o in outcomes)
        settle_began = time.time_ns()
        moved = await until_done(
            lambda: self._store.write(partial(self.processor.settle, outcomes)),
            _INFRA_BACKOFF,
            complain,
        )
        if moved:  # their outputs and changes, in the outbox
            self._wrote()
        events = {o.event.event_id: o.event for o in outcomes}
        self.processor.observe(
            SettledBatch(
                self._name,
                len(outcomes),
                events,
                set(events),
                outcomes,
                moved,
                began,
                settle_began,
                time.time_ns(),
            )
        )
        for held, _ in finished:
            self._settled(held)

    def _settled(self, held: Held[_Job]) -> None:
        job = held.item
        if job.event is not None and self._running.get(job.event.event_id) is held:
            del self._running[job.event.event_id]
        released = self._book.settle(held)
        if job.batch is not None:
            job.batch.one_settled()
        for done in released:
            if done.item.ack is not None:
                done.item.ack()
        self._make_room()
        self._progressed.set()

    def _make_room(self) -> None:
        if len(self._book) < self._limit:
            self._room.set()
