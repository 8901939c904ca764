"""Accepting events: identity, Avro, headers, produce, and the answer.

Accepted means durable: a request is answered 202 only after Kafka acknowledged
every one of its events with ``acks=all``. If any event of a batch fails, the
answer is 503 and lists which events landed and which did not; resending the
whole batch is safe, because each event keeps its ``event_id`` and every sink
deduplicates on it.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Mapping
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import cached_property
from typing import Any

from sqlalchemy.exc import SQLAlchemyError

from conveyor.api.body import EventReader, problem
from conveyor.api.exceptions import InvalidEventsError, OverloadedError
from conveyor.api.idempotency import fingerprint, keyed_id, request_key, reused
from conveyor.api.jobwriter import JobWriter
from conveyor.api.metrics import ApiMetrics
from conveyor.api.monitor import Monitor
from conveyor.api.routing import NOT_BEFORE_HEADER, PRIORITY_HEADER, EventRouter, send_routed
from conveyor.api.tracing import ApiTracing
from conveyor.config import StreamDeclaration
from conveyor.kafka.identity import (
    KafkaHeaders,
    ce_type,
    child_traceparent,
    cloudevent_headers,
    job_path,
    trace_id_of,
    uuid7,
)
from conveyor.producers.async_producer import AsyncProducer, Delivery, Outgoing
from conveyor.schemas.models import EVENT_ID_FIELD
from conveyor.schemas.serde import AvroEncoder
from conveyor.store import IdempotencyKeys, JobRecord, JobStatus

__all__ = ["Ingestor", "StreamIngest"]

log = logging.getLogger(__name__)

# Seconds a client should wait after a 503: the producer drains in milliseconds,
# a backlog in seconds.
RETRY_AFTER_BUSY = 1
RETRY_AFTER_BACKLOG = 5


@dataclass(frozen=True)
class StreamIngest:
    """What the API knows of one stream before it connects to anything."""

    stream: StreamDeclaration
    event: Any  # the stream's event type, a TypedDict
    reader: EventReader

    @cached_property
    def ce_type(self) -> str:
        """The CloudEvents type: the Avro record's full name."""
        return ce_type(self.stream.avro_schema)

    @cached_property
    def ce_source(self) -> str:
        return f"/v1/streams/{self.stream.name}"

    @cached_property
    def router(self) -> EventRouter:
        return EventRouter(self.stream)


class Ingestor:
    """Produces validated events; built at start-up, once the schemas are registered."""

    def __init__(
        self,
        *,
        encoders: dict[str, AvroEncoder],
        producer: AsyncProducer,
        monitor: Monitor,
        jobs: JobWriter,
        keys: IdempotencyKeys,
        metrics: ApiMetrics,
        tracing: ApiTracing | None = None,
    ) -> None:
        self._encoders = encoders
        self._producer = producer
        self._monitor = monitor
        self._jobs = jobs
        self._keys = keys
        self._metrics = metrics
        self._tracing = tracing
        # Labelled once here, not looked up again by every request.
        self._produce_seconds = {s: metrics.produce_seconds.labels(s) for s in encoders}
        self._accepted_events = {s: metrics.accepted_events.labels(s) for s in encoders}

    async def accept(
        self,
        ingest: StreamIngest,
        events: list[dict[str, Any]],
        headers: Mapping[str, str],
        extra: KafkaHeaders | None = None,
    ) -> list[dict[str, Any]]:
        """Produce ``events`` and return one receipt each, in order; raise unless all landed.
        ``headers`` are the request's, by lowercase name; ``extra`` headers go on every
        record (a callback URL)."""
        name = ingest.stream.name
        self._refuse_if_overloaded(name, len(events))
        key = request_key(headers, len(events))
        ids = _event_ids(events, key)
        # Taken before routing takes the routing fields out of the events.
        claim = None if key is None else (key, fingerprint(name, events, headers))
        now = datetime.now(UTC)
        # To the millisecond, as ce_time carries it: a worker that writes a job's row before
        # this API does takes its accepted_at from that header, and must write this value.
        now = now.replace(microsecond=now.microsecond // 1000 * 1000)
        routes = ingest.router.route(
            events, headers.get(PRIORITY_HEADER), headers.get(NOT_BEFORE_HEADER), now.timestamp()
        )
        if claim is not None:
            await self._claim(name, *claim, now)
        headers_of = cloudevent_headers(ingest.ce_source, ingest.ce_type, now)
        encode = self._encoders[name].encode
        key_field = ingest.stream.key
        records: list[Outgoing] = []
        keys: list[str] = []
        with self._publishing(ingest.stream.topic, len(events), headers) as traceparent:
            for event, event_id in zip(events, ids, strict=True):
                event[EVENT_ID_FIELD] = event_id
                keys.append(event[key_field])
                record_headers = headers_of(event_id, traceparent)
                if extra:
                    record_headers += extra
                records.append((event[key_field].encode(), encode(event), record_headers))
            began = time.perf_counter()
            if routes is None:
                results = await self._producer.send_all(ingest.stream.topic, records)
            else:
                results = await send_routed(self._producer, records, routes)
            self._produce_seconds[name].observe(time.perf_counter() - began)
        # One pass over the results: this runs for every event of every batch.
        receipts: list[dict[str, Any]] = []
        queued: list[JobRecord] = []
        trace_id = trace_id_of(traceparent)  # one trace a request
        for event_id, key_text, result in zip(ids, keys, results, strict=True):
            if type(result) is Delivery:
                topic, partition, offset = result
                receipts.append(
                    {
                        "event_id": event_id,
                        "status_url": job_path(event_id),
                        "topic": topic,
                        "partition": partition,
                        "offset": offset,
                    }
                )
                queued.append(
                    JobRecord(
                        event_id,
                        name,
                        topic,
                        partition,
                        offset,
                        JobStatus.QUEUED,
                        now,
                        now,
                        key=key_text,
                        trace_id=trace_id,
                    )
                )
            else:
                receipts.append(
                    {
                        "event_id": event_id,
                        "status_url": job_path(event_id),
                        "error": str(result),
                        "error_code": getattr(result, "code", ""),
                    }
                )
        self._accepted_events[name].inc(len(queued))
        self._jobs.add(queued)
        if len(queued) < len(results):
            self._metrics.overloaded.labels(name, "delivery").inc()
            raise OverloadedError(
                {
                    "message": f"{len(results) - len(queued)} of {len(results)} events were not "
                    "acknowledged by Kafka; resend the request (events keep their event_id, "
                    "so nothing is applied twice)",
                    "events": receipts,
                },
                retry_after=RETRY_AFTER_BUSY,
                reason="delivery",
            )
        return receipts

    async def _claim(self, stream: str, key: str, request: str, now: datetime) -> None:
        """Record ``request`` as ``key``'s, before anything is produced; 422 if the key came
        with another request first."""
        try:
            first = await asyncio.to_thread(self._keys.claim, key, stream, request, now)
        except SQLAlchemyError as exc:
            log.warning("idempotency key not recorded stream=%s error=%r", stream, exc)
            self._metrics.overloaded.labels(stream, "store").inc()
            raise OverloadedError(
                "the result store, which remembers idempotency keys, is not answering",
                retry_after=RETRY_AFTER_BUSY,
                reason="store",
            ) from exc
        if first != (stream, request):
            raise reused(key, first[0], stream)

    def _publishing(
        self, topic: str, count: int, headers: Mapping[str, str]
    ) -> AbstractContextManager[str]:
        """The ``traceparent`` of a request's records: its produce span's when tracing,
        else a child of the caller's trace (or a new one)."""
        if self._tracing is not None:
            return self._tracing.publish(topic, count)
        return nullcontext(child_traceparent(headers.get("traceparent")))

    def _refuse_if_overloaded(self, stream: str, count: int) -> None:
        if not self._producer.has_room_for(count):
            self._metrics.overloaded.labels(stream, "producer_queue").inc()
            raise OverloadedError(
                f"the producer's buffer is full ({self._producer.in_flight} records in flight)",
                retry_after=RETRY_AFTER_BUSY,
                reason="producer_queue",
            )
        if self._monitor.over_backlog(stream):
            self._metrics.overloaded.labels(stream, "backlog").inc()
            raise OverloadedError(
                f"stream {stream!r} has {self._monitor.backlog(stream)} events waiting for "
                f"workers, over its max_backlog of {self._monitor.max_backlog(stream)}",
                retry_after=RETRY_AFTER_BACKLOG,
                reason="backlog",
            )


def _event_ids(events: list[dict[str, Any]], idempotency_key: str | None) -> list[str]:
    """Each event's id: its own field, else the Idempotency-Key (``key:index`` in a
    batch of several), else a new UUIDv7. Two events of one request may not share one."""
    ids = []
    for index, event in enumerate(events):
        own = event.get(EVENT_ID_FIELD)
        if own is not None:
            ids.append(own)
        elif idempotency_key is not None:
            ids.append(keyed_id(idempotency_key, index, len(events)))
        else:
            ids.append(uuid7())
    seen: dict[str, int] = {}
    problems = []
    for index, event_id in enumerate(ids):
        if event_id in seen:
            problems.append(
                problem(
                    index,
                    [EVENT_ID_FIELD],
                    f"event_id {event_id!r} is also item {seen[event_id]}'s",
                    "duplicate",
                )
            )
        seen.setdefault(event_id, index)
    if problems:
        raise InvalidEventsError(problems)
    return ids
