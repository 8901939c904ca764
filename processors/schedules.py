"""The streams' schedules, fired by the group's leader: each tick once, whatever the failover.

The leader (the worker Faust gives the leader partition, the one that runs the outbox
relay) looks for ticks due. A tick's event goes to the outbox in the transaction that
moves the schedule's last tick past it (``store/schedules.py``), and the relay publishes
it: on Kafka once, for ``read_committed`` readers. Its ``event_id`` is made of the
stream, the schedule and the tick, so even a copy published twice would be one job.

A new leader, or the first worker after all were stopped, reads where each schedule got
to and fires the ticks it missed, late, if they are no older than the schedule's
``catch_up``; older ones are skipped and logged. A schedule that never ran starts at
its next tick.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from pydantic import TypeAdapter, ValidationError
from sqlalchemy import Connection

from conveyor.config import Schedule, Settings, StreamDeclaration
from conveyor.config.delays import NOT_BEFORE_FIELD
from conveyor.config.exceptions import ConfigError
from conveyor.config.priorities import PRIORITY_FIELD
from conveyor.kafka.identity import ce_type, child_traceparent, cloudevent_headers
from conveyor.kafka.records import OutboxRecord
from conveyor.schemas.models import EVENT_ID_FIELD, event_type
from conveyor.schemas.serde import AvroEncoder
from conveyor.store import JobStore
from conveyor.store.results import append_outbox
from conveyor.store.schedules import advance_schedule, last_tick, start_schedule

__all__ = ["Scheduler", "leader_schedules", "tick_event_id"]

log = logging.getLogger(__name__)

# A tick is late, not missed, for this long: the leader looks every fraction of a second,
# but a busy worker can look later than that.
_GRACE = timedelta(seconds=5)
# Ticks fired per schedule in one transaction; more wait for the next look.
_BATCH = 1_000
# How long the leader sleeps at most between looks, so it notices leading soon enough.
_LOOK_EVERY = 0.5


def tick_event_id(stream: str, schedule: str, tick: datetime) -> str:
    """``schedule.<stream>.<schedule>.<tick in UTC, to the ms>``: the same on every worker.
    Dots, not colons: an id also names e-mails (``Message-ID``), where a colon is not allowed."""
    at = tick.astimezone(UTC)
    return f"schedule.{stream}.{schedule}.{at:%Y%m%dT%H%M%S}.{at.microsecond // 1000:03d}Z"


@dataclass(frozen=True)
class _Planned:
    """One schedule, ready to fire: where its events go and how they are encoded."""

    stream: StreamDeclaration
    name: str
    schedule: Schedule
    event: dict[str, Any]
    encoder: AvroEncoder
    ce_type: str

    @property
    def id(self) -> str:
        return f"{self.stream.name}/{self.name}"

    def record(self, tick: datetime) -> OutboxRecord:
        event_id = tick_event_id(self.stream.name, self.name, tick)
        value = {**self.event, EVENT_ID_FIELD: event_id}
        source = f"/conveyor/schedules/{self.stream.name}/{self.name}"
        headers = cloudevent_headers(source, self.ce_type, tick)(event_id, child_traceparent(None))
        return OutboxRecord(
            self.stream.level_topic(self.schedule.priority),
            str(self.event[self.stream.key]).encode(),
            self.encoder.encode(value),
            headers,
        )


class Scheduler:
    """Blocking; the worker calls :meth:`fire_due` from a thread, on the leader only."""

    def __init__(self, plans: list[_Planned], store: JobStore) -> None:
        self._plans = plans
        self._store = store
        # When each schedule is next due, as last read; None: read the store.
        self._next: dict[str, datetime] = {}

    @classmethod
    def build(
        cls, settings: Settings, store: JobStore, schema_id: Callable[[StreamDeclaration], int]
    ) -> Scheduler | None:
        """The scheduler of every declared schedule (None if there is none), each event
        checked against its stream's schema (a bad one stops the worker at start) and
        encoded with the id ``schema_id`` registered for the stream."""
        plans = [
            _plan(stream, name, schedule, schema_id(stream))
            for stream in settings.streams.values()
            for name, schedule in stream.schedules.items()
        ]
        return cls(plans, store) if plans else None

    def fire_due(self, now: datetime) -> int:
        """Queue the events of every tick due by ``now``; returns how many."""
        fired = 0
        for plan in self._plans:
            due = self._next.get(plan.id)
            if due is None or due <= now:
                fired += self._fire(plan, now)
        return fired

    def seconds_to_next(self, now: datetime) -> float:
        """How long until the next tick of any schedule, at most half a second."""
        upcoming = [(due - now).total_seconds() for due in self._next.values()]
        return max(0.0, min([_LOOK_EVERY, *upcoming]))

    def forget(self) -> None:
        """Not leading any more: read the store again when leading again."""
        self._next.clear()

    def _fire(self, plan: _Planned, now: datetime) -> int:
        with self._store.engine.begin() as conn:
            fired = self._fire_in(conn, plan, now)
        if fired:
            log.info("schedule fired schedule=%s ticks=%d", plan.id, fired)
        return fired

    def _fire_in(self, conn: Connection, plan: _Planned, now: datetime) -> int:
        schedule = plan.schedule
        since = last_tick(conn, plan.id)
        if since is None:
            start_schedule(conn, plan.id, _millis(schedule.latest(now)))
            self._next[plan.id] = schedule.next_after(now)
            return 0
        last = _moment(since)
        oldest = now - max(timedelta(milliseconds=schedule.catch_up), _GRACE)
        # Ticks before ``oldest`` are skipped: start after the last of them.
        after = max(last, schedule.latest(oldest - timedelta(microseconds=1)))
        ticks = schedule.ticks(after, now, _BATCH)
        until = ticks[-1] if ticks else after
        if until > last:
            if not advance_schedule(conn, plan.id, since, _millis(until)):
                # Another worker fired them (it led too, for a moment): nothing was
                # written here; read where the schedule is next time.
                self._next.pop(plan.id, None)
                return 0
            if after > last:
                log.warning(
                    "schedule skipped ticks older than its catch_up schedule=%s last_fired=%s "
                    "skipped_through=%s catch_up_ms=%d",
                    plan.id,
                    last.isoformat(),
                    after.isoformat(),
                    schedule.catch_up,
                )
            append_outbox(conn, (plan.record(tick).row() for tick in ticks))
        self._next[plan.id] = schedule.next_after(until)
        return len(ticks)


def leader_schedules(
    is_leader: Callable[[], bool], scheduler: Scheduler
) -> Callable[[], Awaitable[None]]:
    """The worker's task: fire the schedules while this worker leads the group."""

    async def schedules() -> None:
        while True:
            now = datetime.now(UTC)
            if not is_leader():
                scheduler.forget()
                await asyncio.sleep(_LOOK_EVERY)
                continue
            try:
                await asyncio.to_thread(scheduler.fire_due, now)
            except Exception as exc:
                # The store is down or busy: the ticks wait for it, none is lost.
                log.error("schedules not fired; trying again error=%r", exc)
                scheduler.forget()
            await asyncio.sleep(scheduler.seconds_to_next(datetime.now(UTC)))

    return schedules


def _plan(stream: StreamDeclaration, name: str, schedule: Schedule, schema_id: int) -> _Planned:
    where = f"stream {stream.name!r}, schedule {name!r}"
    if PRIORITY_FIELD in schedule.event or NOT_BEFORE_FIELD in schedule.event:
        raise ConfigError(f"{where}: give the level as the schedule's priority, not in its event")
    try:
        event = TypeAdapter(event_type(stream)).validate_python(schedule.event)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in err['loc'])}: {err['msg']}" for err in exc.errors()
        )
        raise ConfigError(
            f"{where}: its event does not fit {stream.schema_file}: {problems}"
        ) from exc
    if EVENT_ID_FIELD in event:
        raise ConfigError(f"{where}: its event_id is made of the schedule and the tick")
    avro = stream.avro_schema
    return _Planned(
        stream,
        name,
        schedule,
        event,
        AvroEncoder(avro, schema_id),
        ce_type(avro),
    )


def _millis(at: datetime) -> int:
    return int(at.timestamp() * 1000)


def _moment(millis: int) -> datetime:
    return datetime.fromtimestamp(millis / 1000, UTC)
