"""A conveyor record as a consumer hands it over, and the event it carries.

Events are known by their ``event_id`` and found by where they first landed,
``topic[partition]@offset``; a record read back from a retry tier keeps both.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from conveyor.kafka.headers import (
    ATTEMPTS,
    ORIGINAL_OFFSET,
    ORIGINAL_PARTITION,
    ORIGINAL_TOPIC,
    header_text,
)
from conveyor.kafka.identity import trace_id_of
from conveyor.schemas.models import EVENT_ID_FIELD

__all__ = ["Consumed", "Event", "accepted_at", "event_from", "event_log_fields", "where"]


def where(topic: str, partition: int, offset: int) -> str:
    """A record's place as log lines, errors and headers name it: ``topic[partition]@offset``."""
    return f"{topic}[{partition}]@{offset}"


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
class Event:
    """One decoded event, with where it first landed and how often it was tried."""

    event_id: str
    value: dict[str, Any]
    key: bytes | None
    raw: bytes | None
    headers: dict[str, bytes]
    topic: str  # the stream's topic, also for events read back from a retry tier
    partition: int
    offset: int
    attempts: int = 0  # tries before this one

    @property
    def where(self) -> str:
        return where(self.topic, self.partition, self.offset)


def event_from(record: Consumed, value: dict[str, Any] | None) -> Event:
    """The event ``record`` carries (``value`` None when it did not decode).

    Read back from a retry tier, the event keeps its first topic, partition and offset
    and counts the tries made; an undecodable record is known by its ``ce_id`` header
    or, lacking one, by where it is.
    """
    # Consumers hand header values over as bytes; only records made here carry text.
    headers = {name: v if type(v) is bytes else _as_bytes(v) for name, v in record.headers}
    topic, partition, offset = record.topic, record.partition, record.offset
    if ORIGINAL_TOPIC in headers:
        topic = header_text(headers, ORIGINAL_TOPIC) or topic
        partition = int(header_text(headers, ORIGINAL_PARTITION) or partition)
        offset = int(header_text(headers, ORIGINAL_OFFSET) or offset)
    event_id = value.get(EVENT_ID_FIELD) if value else None
    if not event_id:
        event_id = header_text(headers, "ce_id") or f"{topic}:{partition}:{offset}"
    return Event(
        event_id,
        value or {},
        record.key,
        record.value,
        headers,
        topic,
        partition,
        offset,
        int(header_text(headers, ATTEMPTS) or 0) if ATTEMPTS in headers else 0,
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
    """The fields of a log line about ``event`` (``runtime/logs.py`` writes them out in JSON): its
    id, its trace (from ``traceparent``) and where it first landed."""
    traceparent = header_text(event.headers, "traceparent")
    return {
        "event_id": event.event_id,
        "trace_id": trace_id_of(traceparent),
        "topic": event.topic,
        "partition": event.partition,
        "offset": event.offset,
    }


def _as_bytes(value: str | bytes | None) -> bytes:
    if value is None:
        return b""
    return value.encode() if isinstance(value, str) else value
