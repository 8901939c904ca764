"""The worker's spans of each event, made once its batch settled, from the times it recorded.

Each event gets a ``process <topic>`` span, the child of the span its record's
``traceparent`` names (the API's produce), so one trace follows the event from the
POST through Kafka, with the time its handler took (retries in place included) as
``conveyor.handler.seconds``; below it ``settle <stream>``, the result-store
transaction that applied it (the sink write). A copy the ``event_id`` gate skipped
gets its ``process`` span too, marked ``conveyor.duplicate``, so a replay shows where
each copy went. Made after the fact, the spans cost the handling path nothing but the
clock readings it takes anyway; the SDK's own cost (some 200 µs of CPU an event here,
making and exporting two spans: more than the rest of the worker's work) is what
``telemetry.sample_ratio`` is for.
"""

from __future__ import annotations

from opentelemetry.trace import SpanKind, Status, StatusCode, Tracer, set_span_in_context

from conveyor.kafka.events import Event
from conveyor.kafka.headers import header_text
from conveyor.processors.stream_processor import Outcome, SettledBatch
from conveyor.runtime.tracing import remote_parent
from conveyor.store import JobStatus

__all__ = ["EventTracing"]


class EventTracing:
    def __init__(self, tracer: Tracer, group: str, database: str) -> None:
        self._tracer = tracer
        self._group = group
        self._database = database  # db.system.name: sqlite, postgresql

    def observe(self, batch: SettledBatch) -> None:
        """Record the spans of one settled batch (a :class:`BatchObserver`)."""
        for outcome in batch.outcomes:
            moved = outcome.event.event_id in batch.moved
            self._process(batch, outcome.event, outcome if moved else None)
        for event_id, event in batch.events.items():
            if event_id not in batch.fresh:
                self._process(batch, event, None)

    def _process(self, batch: SettledBatch, event: Event, outcome: Outcome | None) -> None:
        """The event's spans; ``outcome`` None when its job had settled before."""
        tracer = self._tracer
        span = tracer.start_span(
            f"process {event.topic}",
            context=remote_parent(header_text(event.headers, "traceparent")),
            kind=SpanKind.CONSUMER,
            start_time=batch.began_ns,
            attributes={
                "messaging.system": "kafka",
                "messaging.operation.type": "process",
                "messaging.destination.name": event.topic,
                "messaging.destination.partition.id": str(event.partition),
                "messaging.kafka.offset": event.offset,
                "messaging.consumer.group.name": self._group,
                "messaging.message.id": event.event_id,
                "conveyor.stream": batch.stream,
                "conveyor.attempts": outcome.attempts if outcome else event.attempts,
                "conveyor.duplicate": outcome is None,
            },
        )
        if outcome is None:
            span.end(batch.settle_began_ns)
            return
        span.set_attribute("conveyor.job.status", outcome.status.value)
        if outcome.ended_ns:
            handled = (outcome.ended_ns - outcome.began_ns) / 1e9
            span.set_attribute("conveyor.handler.seconds", handled)
        settle = tracer.start_span(
            f"settle {batch.stream}",
            context=set_span_in_context(span),
            kind=SpanKind.CLIENT,
            start_time=batch.settle_began_ns,
            attributes={
                "db.system.name": self._database,
                "conveyor.batch.events": len(batch.moved),
            },
        )
        settle.end(batch.settled_ns)
        if outcome.status in (JobStatus.DEAD_LETTERED, JobStatus.FAILED):
            error = outcome.error
            span.set_status(Status(StatusCode.ERROR, f"{type(error).__name__}: {error}"))
        span.end(batch.settled_ns)
