"""One stream's events, a batch at a time: decode, handle with retries, settle.

A batch is settled in one result-store transaction: the jobs move to their final
status behind the ``event_id`` gate (see ``store/results.py``), and the outputs,
aggregates, retries and dead letters of the events that moved are written with
them, for the outbox relay to publish. Before any handler runs, the batch claims its
jobs in a transaction of its own: an event whose job is already final (a redelivery
after a crash, a rebalance, a replay, a retried POST) is skipped, and one whose
``event_id`` another stream's job owns is recorded as a copy and never applied. A pure
handler's jobs (``Handler.pure``) skip the claim: their settle is the gate's one step.
Offsets are committed only after the batch is settled (Faust acks a ``take`` batch once
the agent asks for the next), so a crash can only redeliver.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from conveyor.common.backoff import Backoff
from conveyor.kafka.changes import ChangeFeedWriter, change_of
from conveyor.kafka.events import Consumed, Event, accepted_at, event_from, event_log_fields
from conveyor.kafka.headers import failure_headers, header_text
from conveyor.kafka.identity import (
    KafkaHeaders,
    ce_type,
    child_traceparent,
    cloudevent_headers,
    trace_id_of,
)
from conveyor.kafka.records import OutboxRecord
from conveyor.processors.exceptions import OutcomeUnknownError, PoisonError
from conveyor.processors.handler import (
    Handler,
    HandlerContext,
    Output,
    Processed,
    Progress,
    RunningJob,
)
from conveyor.processors.progress import worker_name
from conveyor.processors.running import HandlerCall
from conveyor.processors.webhooks import WebhookOutbox
from conveyor.schemas.exceptions import DecodeError
from conveyor.schemas.serde import AvroDecoder, AvroEncoder
from conveyor.store import JobRecord, JobStatus
from conveyor.store.jobs import FINAL_STATUSES
from conveyor.store.results import Claim, OutboxValues, append_outbox, claim, transition

__all__ = ["BatchObserver", "Outcome", "SettledBatch", "StreamProcessor", "log_copy"]

log = logging.getLogger(__name__)

# Per output name: its CloudEvents headers for one batch, as headers(ce_id, traceparent).
_HeaderFactories = dict[str, Callable[[str, str], KafkaHeaders]]

# Waits between tries of a batch the result store or the registry could not take:
# an outage of either holds the stream, it never dead-letters good events.
_INFRA_BACKOFF = Backoff(base=0.5, cap=30.0)


@dataclass(slots=True)
class Outcome:
    event: Event
    status: JobStatus  # PROCESSING: waiting on a retry tier
    attempts: int
    processed: Processed | None = None
    error: BaseException | None = None
    retry_at: datetime | None = None
    # When its handler began and ended (Unix ns; 0 when it never ran: undecodable).
    began_ns: int = 0
    ended_ns: int = 0


@dataclass(slots=True)
class SettledBatch:
    """What became of one batch, told to the observers (metrics, tracing) once it settled."""

    stream: str
    records: int  # as consumed, copies included
    events: dict[str, Event]  # one per event_id (an undecodable one with an empty value)
    fresh: set[str]  # of those, the ones claimed: the gate let them through
    outcomes: list[Outcome]
    moved: set[str]  # of the outcomes', the jobs that settled now (not already final)
    began_ns: int  # Unix ns: when the batch reached the processor,
    settle_began_ns: int  # when its result-store transaction began (or the gate answered),
    settled_ns: int  # and when it committed


# Called with every settled batch; observers keep per-event work off the handling path.
BatchObserver = Callable[[SettledBatch], None]


class StreamProcessor:
    def __init__(
        self,
        context: HandlerContext,
        handler: Handler,
        decoder: AvroDecoder,
        encoders: dict[str, AvroEncoder],
        observers: Sequence[BatchObserver] = (),
        *,
        call: HandlerCall | None = None,
        report: Callable[[str, Progress], None] = lambda _event_id, _progress: None,
        feed: ChangeFeedWriter | None = None,
        webhooks: WebhookOutbox | None = None,
    ) -> None:
        self.context = context
        self._webhooks = webhooks
        self._stream = context.stream
        self._handler = handler
        self._call_handler = call or HandlerCall(handler, context.stream.concurrency)
        self._report = report
        self._feed = feed  # where the jobs' changes are published, if anywhere
        timeout_ms = context.stream.timeout_ms
        self._timeout = timeout_ms / 1000 if timeout_ms else None
        self._decoder = decoder
        self._encoders = encoders
        self._observers = tuple(observers)
        self._backoff = Backoff(
            base=self._stream.retry.backoff_seconds, cap=self._stream.retry.max_backoff_seconds
        )
        self._ce_types = {
            name: ce_type(output.avro_schema) for name, output in self._stream.outputs.items()
        }

    def close(self) -> None:
        self._call_handler.close()
        self._handler.close()

    def decode(self, record: Consumed) -> tuple[Event, DecodeError | None]:
        """The event ``record`` carries, and why it could not be decoded (dead-lettered)."""
        try:
            return event_from(record, self._decoder.decode(record.value)), None
        except DecodeError as exc:
            return event_from(record, None), exc

    def observe(self, settled: SettledBatch) -> None:
        for observe in self._observers:
            observe(settled)

    async def attempt(self, event: Event) -> Outcome:
        """Run the handler on ``event``, retrying in place on a strict stream; the outcome
        to settle. Each try is bounded by the stream's ``timeout``."""
        began = time.time_ns()
        outcome = await self._attempt(event)
        outcome.began_ns, outcome.ended_ns = began, time.time_ns()
        return outcome

    async def _attempt(self, event: Event) -> Outcome:
        attempts = event.attempts
        while True:
            attempts += 1
            try:
                processed = await self._call(event)
                return Outcome(event, JobStatus.SUCCEEDED, attempts, processed=processed)
            except asyncio.CancelledError:
                raise
            except PoisonError as exc:
                return Outcome(event, JobStatus.DEAD_LETTERED, attempts, error=exc)
            except OutcomeUnknownError as exc:
                return Outcome(event, JobStatus.FAILED, attempts, error=exc)
            except Exception as exc:
                if attempts >= self._stream.retry.attempts:
                    return Outcome(event, JobStatus.DEAD_LETTERED, attempts, error=exc)
                delay = self._backoff.delay(attempts - 1)
                if self._stream.retry_topics:
                    retry_at = datetime.now(UTC) + timedelta(seconds=delay)
                    return Outcome(
                        event, JobStatus.PROCESSING, attempts, error=exc, retry_at=retry_at
                    )
                log.warning(
                    "retrying in place event_id=%s at=%s attempt=%d retry_in=%.2fs error=%r",
                    event.event_id,
                    event.where,
                    attempts,
                    delay,
                    exc,
                    extra=event_log_fields(event),
                )
                await asyncio.sleep(delay)

    async def _call(self, event: Event) -> Processed:
        job = RunningJob(event.event_id, self._report)
        if self._timeout is None:
            return await self._call_handler(event, job)
        try:
            async with asyncio.timeout(self._timeout):
                return await self._call_handler(event, job)
        except TimeoutError as exc:
            job.stop.set()
            raise TimeoutError(f"the job ran past its timeout of {self._timeout} s") from exc

    @property
    def claims(self) -> bool:
        """Whether its jobs are claimed before they run (all but a pure handler's)."""
        return not self._handler.pure

    def claim(self, events: list[Event]) -> Claim:
        """Claim the events' jobs, in a transaction of its own: it commits before any of
        their handlers starts an effect (see ``store/results.py``)."""
        if not events:
            return Claim(set(), {})
        now = datetime.now(UTC)
        worker = worker_name()
        jobs = [
            self._job(
                event, JobStatus.PROCESSING, event.attempts, now, started_at=now, worker=worker
            )
            for event in events
        ]
        with self.context.store.engine.begin() as conn:
            claimed = claim(conn, jobs)
            append_outbox(conn, self._changes(events, jobs, claimed.fresh))
        return claimed

    def settle(self, outcomes: list[Outcome]) -> set[str]:
        """Settle ``outcomes`` in one transaction; returns the event ids whose jobs moved."""
        now = datetime.now(UTC)
        # Unclaimed (a pure handler's), a job's row has not yet said when and where it ran.
        worker = None if self.claims else worker_name()
        jobs = [
            self._job(
                o.event,
                o.status,
                o.attempts,
                now,
                result=o.processed.result if o.processed else None,
                error=f"{type(o.error).__name__}: {o.error}" if o.error else None,
                started_at=None if worker is None else _started_at(o, now),
                worker=worker,
            )
            for o in outcomes
        ]
        headers_of = {
            name: cloudevent_headers(f"/conveyor/{self._stream.name}/{name}", ce_type, now)
            for name, ce_type in self._ce_types.items()
        }
        copies: dict[str, str] = {}
        with self.context.store.engine.begin() as conn:
            if self.claims:
                moved = transition(conn, jobs)
            else:
                moved, copies = claim(conn, jobs)
            records: list[OutboxRecord] = []
            applied: list[tuple[Event, Processed]] = []
            for o in outcomes:
                if o.event.event_id not in moved:
                    continue
                if o.processed is not None:
                    applied.append((o.event, o.processed))
                    records += self._outputs(o.event, o.processed.outputs, headers_of)
                else:
                    records.append(self._failure_record(o, now))
            records += self._outputs(None, self._handler.apply(conn, applied), headers_of)
            records += self._webhook_deliveries(outcomes, jobs, moved, now)
            changes = self._changes([o.event for o in outcomes], jobs, moved)
            append_outbox(conn, [*(r.row() for r in records), *changes])
        for o in outcomes:
            if o.event.event_id in copies:
                log_copy(o.event, copies[o.event.event_id])
            if o.error is not None and o.event.event_id in moved:
                log.warning(
                    "event not applied event_id=%s at=%s status=%s attempts=%d error=%r",
                    o.event.event_id,
                    o.event.where,
                    o.status.value,
                    o.attempts,
                    o.error,
                    extra=event_log_fields(o.event),
                )
        return moved

    def _webhook_deliveries(
        self, outcomes: list[Outcome], jobs: list[JobRecord], moved: set[str], now: datetime
    ) -> list[OutboxRecord]:
        """Webhooks of the jobs this settle moved to a final status (``processors/webhooks.py``):
        in its transaction, so a delivery exists exactly when its job settled."""
        if self._webhooks is None:
            return []
        ended: dict[str, tuple[Event, JobRecord]] = {}
        for outcome, job in zip(outcomes, jobs, strict=True):
            if job.event_id in moved and job.status in FINAL_STATUSES:
                ended.setdefault(job.event_id, (outcome.event, job))
        return self._webhooks.records(ended.values(), now) if ended else []

    def _job(
        self,
        event: Event,
        status: JobStatus,
        attempts: int,
        now: datetime,
        *,
        result: dict[str, Any] | None = None,
        error: str | None = None,
        started_at: datetime | None = None,
        worker: str | None = None,
    ) -> JobRecord:
        return JobRecord(
            event.event_id,
            self._stream.name,
            event.topic,
            event.partition,
            event.offset,
            status,
            # The API's own value, should this write the row before the API's does.
            accepted_at(event) or now,
            now,
            result,
            error,
            attempts,
            started_at,
            worker,
            event.key.decode(errors="replace") if event.key is not None else None,
            trace_id_of(header_text(event.headers, "traceparent")),
        )

    def _changes(
        self, events: list[Event], jobs: list[JobRecord], moved: set[str]
    ) -> list[OutboxValues]:
        """The feed's records of the jobs that ``moved`` (``jobs[i]`` is ``events[i]``'s)."""
        if self._feed is None or not moved:
            return []
        changes = [
            (event.partition, change_of(job))
            for event, job in zip(events, jobs, strict=True)
            if job.event_id in moved
        ]
        return [r.row() for r in self._feed.records(changes)]

    def _outputs(
        self, event: Event | None, outputs: list[Output], headers_of: _HeaderFactories
    ) -> list[OutboxRecord]:
        parent = header_text(event.headers, "traceparent") if event else None
        records = []
        for output in outputs:
            declared = self._stream.outputs[output.output]
            ce_id = output.ce_id or (event.event_id if event else None)
            if ce_id is None:
                raise ValueError(f"output {output.output!r} from apply() needs its own ce_id")
            headers = headers_of[output.output](ce_id, child_traceparent(parent))
            records.append(
                OutboxRecord(
                    declared.topic,
                    str(output.value[declared.key]).encode(),
                    self._encoders[output.output].encode(output.value),
                    headers,
                )
            )
        return records

    def _failure_record(self, outcome: Outcome, now: datetime) -> OutboxRecord:
        event, error = outcome.event, outcome.error
        assert error is not None
        if outcome.status is JobStatus.PROCESSING:
            topic = self._stream.retry_topics[outcome.attempts - 1]
        else:
            topic = self._stream.dlq_topic
        headers = failure_headers(event, outcome.attempts, error, now, outcome.retry_at)
        return OutboxRecord(topic, event.key, event.raw, headers)


def log_copy(event: Event, owner: str) -> None:
    """Say that ``event`` was not applied: its id belongs to a job of stream ``owner``."""
    log.warning(
        "event not applied: its event_id belongs to a job of stream %s event_id=%s at=%s",
        owner,
        event.event_id,
        event.where,
        extra=event_log_fields(event),
    )


def _started_at(outcome: Outcome, now: datetime) -> datetime:
    if not outcome.began_ns:  # it never ran (undecodable)
        return now
    return datetime.fromtimestamp(outcome.began_ns / 1e9, UTC)
