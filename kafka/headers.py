"""The headers a conveyor record carries beyond CloudEvents' (all values UTF-8), and how a
record's headers change as it fails, moves between tiers and comes back from the DLQ.

- ``conveyor.attempts``: tries made so far;
- ``conveyor.original.topic|partition|offset``: where the event first landed;
- ``conveyor.first.failure`` / ``conveyor.last.failure``: ISO 8601 times;
- ``conveyor.error.type`` / ``conveyor.error.message``: the last failure;
- ``conveyor.not.before``: on retry and delay tiers, the earliest time (Unix ms) to try;
- ``conveyor.redriven.from``: on a dead letter sent back to its topic, the DLQ record's
  ``topic[partition]@offset``.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from conveyor.kafka.identity import KafkaHeaders

if TYPE_CHECKING:
    # Only annotations: events.py reads these names when it makes an Event.
    from conveyor.kafka.events import Consumed, Event

__all__ = [
    "ATTEMPTS",
    "ERROR_MESSAGE",
    "ERROR_TYPE",
    "FIRST_FAILURE",
    "LAST_FAILURE",
    "NOT_BEFORE",
    "ORIGINAL_OFFSET",
    "ORIGINAL_PARTITION",
    "ORIGINAL_TOPIC",
    "REDRIVEN_FROM",
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
# The earliest time (Unix ms) to process a delayed or retried event.
NOT_BEFORE = "conveyor.not.before"
_OURS = (ATTEMPTS, FIRST_FAILURE, LAST_FAILURE, ERROR_TYPE, ERROR_MESSAGE, NOT_BEFORE)


def header_text(headers: dict[str, bytes], name: str) -> str | None:
    value = headers.get(name)
    return value.decode(errors="replace") if value is not None else None


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
