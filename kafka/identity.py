"""Event identity and the metadata that rides in Kafka headers.

Headers follow CloudEvents' Kafka protocol binding in binary mode (``ce_*``
headers beside an Avro body) plus the W3C ``traceparent``, so any consumer can
deduplicate by ``ce_id`` and join the trace without decoding the value.
"""

from __future__ import annotations

import os
import random
import re
import time
import uuid
from collections.abc import Callable
from datetime import datetime
from typing import Any
from urllib.parse import quote

__all__ = [
    "KafkaHeaders",
    "ce_type",
    "child_traceparent",
    "cloudevent_headers",
    "job_path",
    "trace_id_of",
    "uuid7",
]

# Record headers as confluent-kafka takes them.
KafkaHeaders = list[tuple[str, str | bytes | None]]

_TRACEPARENT = re.compile(r"^00-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})$")


def uuid7(millis: int | None = None, entropy: int | None = None) -> str:
    """A UUIDv7 (RFC 9562): 48 bits of Unix milliseconds, then random bits.

    Time-ordered ids keep the result store's unique index append-mostly: inserting
    random UUIDv4s costs SQLite several times more per row. ``millis`` and ``entropy``
    make one for a given time (sample data); by default it is now, and random.
    """
    if millis is None:
        millis = time.time_ns() // 1_000_000
    if entropy is None:
        entropy = int.from_bytes(os.urandom(10), "big")
    value = (millis & (2**48 - 1)) << 80 | (entropy & (2**80 - 1))
    value &= ~(0xF << 76)
    value |= 0x7 << 76  # version 7
    value &= ~(0x3 << 62)
    value |= 0x2 << 62  # RFC 9562 variant
    return str(uuid.UUID(int=value))


def job_path(event_id: str) -> str:
    """The path of the event's job status. Ids may hold any visible ASCII, so the id is
    percent-encoded whole; ``.`` and ``..`` too, which URL parsers would resolve as
    dot-segments (httpx turns ``/v1/jobs/..`` into ``/v1``)."""
    encoded = quote(event_id, safe="")
    if not encoded.strip("."):
        encoded = encoded.replace(".", "%2E")
    return "/v1/jobs/" + encoded


def child_traceparent(parent: str | None) -> str:
    """A W3C traceparent continuing ``parent``'s trace (or starting one), with a new span id."""
    match = _TRACEPARENT.match(parent or "")
    trace_id = match.group(1) if match and match.group(1) != "0" * 32 else _random_hex(128)
    return f"00-{trace_id}-{_random_hex(64)}-01"


def trace_id_of(traceparent: str | None) -> str | None:
    """The trace id a W3C traceparent names."""
    match = _TRACEPARENT.match(traceparent or "")
    return match.group(1) if match else None


def _random_hex(bits: int) -> str:
    # Trace and span ids must be unique, not secret (W3C Trace Context): the fast
    # generator will do, a system call per output record would not.
    return f"{random.getrandbits(bits):0{bits // 4}x}"


def cloudevent_headers(
    source: str, event_type: str, at: datetime
) -> Callable[[str, str], KafkaHeaders]:
    """The binary-mode CloudEvents headers of events from one source, type and moment, as
    ``headers(event_id, traceparent)``.

    Everything but the id and the trace is shared by the events of one request or batch,
    so it is encoded once.
    """
    shared: KafkaHeaders = [
        ("ce_specversion", b"1.0"),
        ("ce_source", source.encode()),
        ("ce_type", event_type.encode()),
        ("ce_time", at.isoformat(timespec="milliseconds").replace("+00:00", "Z").encode()),
        ("content-type", b"application/avro"),
    ]
    return lambda event_id, traceparent: [
        ("ce_id", event_id.encode()),
        *shared,
        ("traceparent", traceparent.encode()),
    ]


def ce_type(avro_schema: dict[str, Any]) -> str:
    """The CloudEvents type of the events a schema describes: the Avro record's full name."""
    return ".".join(p for p in (avro_schema.get("namespace"), avro_schema["name"]) if p)
