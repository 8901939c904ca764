"""From a consumed Kafka record to an :class:`Event`, and from a decision to the records
the outbox publishes: outputs, retries and dead letters, with their headers.

Headers conveyor adds (all values UTF-8):

- ``conveyor.attempts``: tries made so far;
- ``conveyor.original.topic|partition|offset``: where the event first landed;
- ``conveyor.first.failure`` / ``conveyor.last.failure``: ISO 8601 times;
- ``conveyor.error.type`` / ``conveyor.error.message``: the last failure;
- ``conveyor.not.before``: on retry and delay tiers, the earliest time (Unix ms) to try;
- ``conveyor.redriven.from``: on a dead letter sent back to its topic, the DLQ record's
  ``topic[partition]@offset``.
"""

from __future__ import annotations

import functools
import marshal
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from conveyor.config.delays import NOT_BEFORE
from conveyor.processors.handler import Event
from conveyor.producers.identity import KafkaHeaders
from conveyor.schemas.models import EVENT_ID_FIELD
from conveyor.store.results import OutboxValues

__all__ = [
    "ERROR_MESSAGE",
    "ERROR_TYPE",
    "FIRST_FAILURE",
    "LAST_FAILURE",
    "NOT_BEFORE",
    "Consumed",
    "OutboxRecord",
    "accepted_at",
    "event_from",
    "event_log_fields",
    "failure_headers",
    "header_text",
    "moved_headers",
    "redriven_headers",
]

ATTEMPTS = "conveyor.attempts"
ORIGINAL_TOPIC = "conveyor.original.topic"
ORIGINAL_PARTITION = "conveyor.original.partition"
ORIGINAL_OFFSET = "conveyor.original.offset"
FIRST_FAILURE = "conveyor.first.failure"
LAST_FAILURE = "conveyor.last.failure"
ERROR_TYPE = "conveyor.error.type"
ERROR_MESSAGE = "conveyor.error.message"
REDRIVEN_FROM = "conveyor.redriven.from"
# Pinned, so a Python upgrade with records still in the outbox reads them back.
_MARSHAL_VERSION = 4
_OURS = (ATTEMPTS, FIRST_FAILURE, LAST_FAILURE, ERROR_TYPE, ERROR_MESSAGE, NOT_BEFORE)


@dataclass(slots=True)
class Consumed:
    """A record as the consumer handed it over."""

    topic: str
    partition: int
    offset: int
    key: bytes | None
    value: bytes | None
    headers: Sequence[tuple[str, str | bytes | None]]
    timestamp: float = 0.0  # Unix seconds: when it landed on its topic (delay tiers count from it)


@dataclass(slots=True)
class OutboxRecord:
    """A record to publish; headers are kept in the order given."""

    topic: str
    key: bytes | None
    value: bytes | None
    headers: KafkaHeaders

    def row(self) -> OutboxValues:
        """The outbox table's row. Headers are kept with marshal: a blob per output record,
        written and read back by conveyor alone within seconds, and a fifth of JSON's cost."""
        return self.topic, self.key, self.value, marshal.dumps(self.headers, _MARSHAL_VERSION)

    @staticmethod
    def headers_from_blob(blob: bytes) -> KafkaHeaders:
        headers: KafkaHeaders = marshal.loads(blob)  # noqa: S302 - our own outbox rows
        return headers


def header_text(headers: dict[str, bytes], name: str) -> str | None:
    value = headers.get(name)
    return value.decode(errors="replace") if value is not None else None


def event_from(record: Consumed, value: dict[str, Any] | None) -> Event:
    """The event ``record`` carries (``value`` None when it did not decode).

    Read back from a retry tier, the event keeps its first topic, partition and offset
    and counts the tries made; an undecodable record is known by its ``ce_id`` header
    or, lacking one, by where it is.
    """
    headers = {name: _as_bytes(v) for name, v in record.headers}
    original_topic = header_text(headers, ORIGINAL_TOPIC)
    topic, partition, offset = record.topic, record.partition, record.offset
    if original_topic is not None:
        topic = original_topic
        partition = int(header_text(headers, ORIGINAL_PARTITION) or partition)
        offset = int(header_text(headers, ORIGINAL_OFFSET) or offset)
    event_id = (value or {}).get(EVENT_ID_FIELD) or header_text(headers, "ce_id")
    return Event(
        event_id=event_id or f"{topic}:{partition}:{offset}",
        value=value or {},
        key=record.key,
        raw=record.value,
        headers=headers,
        topic=topic,
        partition=partition,
        offset=offset,
        attempts=int(header_text(headers, ATTEMPTS) or 0),
    )


def accepted_at(event: Event) -> datetime | None:
    """When the API accepted ``event``: its ``ce_time`` header, which rides with it onto
    every tier (None if it has none, or one that is not a time)."""
    value = event.headers.get("ce_time")
    return None if value is None else _parsed_time(value)


# The events of one request share their ce_time: each distinct one is parsed once.
@functools.lru_cache(maxsize=1024)
def _parsed_time(value: bytes) -> datetime | None:
    try:
        at = datetime.fromisoformat(value.decode())
    except ValueError:
        return None
    return at if at.tzinfo else at.replace(tzinfo=UTC)


def event_log_fields(event: Event) -> dict[str, object]:
    """The fields of a log line about ``event`` (``logs.py`` writes them out in JSON): its
    id, its trace (from ``traceparent``) and where it first landed."""
    traceparent = header_text(event.headers, "traceparent")
    return {
        "event_id": event.event_id,
        "trace_id": traceparent[3:35] if traceparent else None,
        "topic": event.topic,
        "partition": event.partition,
        "offset": event.offset,
    }


def failure_headers(
    event: Event, attempts: int, error: BaseException, at: datetime, not_before: datetime | None
) -> KafkaHeaders:
    """The event's own headers, then conveyor's account of its failures."""
    now = at.astimezone(UTC).isoformat(timespec="milliseconds")
    first = header_text(event.headers, FIRST_FAILURE) or now
    kept: KafkaHeaders = [
        (name, value)
        for name, value in event.headers.items()
        if name not in _OURS and not name.startswith("conveyor.original.")
    ]
    ours: KafkaHeaders = [
        (ATTEMPTS, str(attempts).encode()),
        (ORIGINAL_TOPIC, event.topic.encode()),
        (ORIGINAL_PARTITION, str(event.partition).encode()),
        (ORIGINAL_OFFSET, str(event.offset).encode()),
        (FIRST_FAILURE, first.encode()),
        (LAST_FAILURE, now.encode()),
        (ERROR_TYPE, type(error).__name__.encode()),
        (ERROR_MESSAGE, str(error)[:1000].encode()),
    ]
    if not_before is not None:
        ours.append((NOT_BEFORE, str(int(not_before.timestamp() * 1000)).encode()))
    return kept + ours


def moved_headers(record: Consumed) -> KafkaHeaders:
    """``record``'s headers for its move to another tier (or back onto its own), with
    where it first landed, which stays its position (and identity, if it does not decode)."""
    headers: KafkaHeaders = list(record.headers)
    if not any(name == ORIGINAL_TOPIC for name, _ in headers):
        headers += [
            (ORIGINAL_TOPIC, record.topic.encode()),
            (ORIGINAL_PARTITION, str(record.partition).encode()),
            (ORIGINAL_OFFSET, str(record.offset).encode()),
        ]
    return headers


def redriven_headers(headers: Sequence[tuple[str, bytes | None]], dead_letter: str) -> KafkaHeaders:
    """A dead letter's headers for its way back to its topic (``dead_letter`` names where
    it was): without its attempts and last error, so the worker gives it every attempt
    again; with where it first landed (its identity, when it has no ``event_id``) and
    when it first failed, so a second failure still tells its whole story."""
    dropped = {ATTEMPTS, ERROR_TYPE, ERROR_MESSAGE, LAST_FAILURE, NOT_BEFORE, REDRIVEN_FROM}
    kept: KafkaHeaders = [(name, value) for name, value in headers if name not in dropped]
    return [*kept, (REDRIVEN_FROM, dead_letter.encode())]


def _as_bytes(value: str | bytes | None) -> bytes:
    if value is None:
        return b""
    return value.encode() if isinstance(value, str) else value
