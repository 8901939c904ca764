"""Which topic each accepted event goes to: its priority level's, or a delay tier's.

The ``priority`` and ``not_before`` fields (or the ``Conveyor-Priority`` and
``Conveyor-Not-Before`` headers, for every event of the request without its own) are
taken out of the event: the level is the topic it lands on, and the time rides in the
``conveyor.not.before`` header, as on a retry tier. Not the standard ``Priority`` header:
RFC 9218 gives it to HTTP's own scheduling, and browsers send it unasked.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from pydantic import TypeAdapter, ValidationError

from conveyor.api.body import problem
from conveyor.api.exceptions import InvalidEventsError
from conveyor.config import StreamDeclaration
from conveyor.config.delays import NOT_BEFORE_FIELD
from conveyor.config.priorities import PRIORITY_FIELD
from conveyor.kafka.headers import NOT_BEFORE
from conveyor.kafka.identity import KafkaHeaders
from conveyor.producers.async_producer import AsyncProducer, Delivery, Outgoing
from conveyor.producers.exceptions import DeliveryError
from conveyor.schemas.models import Timestamp

__all__ = ["NOT_BEFORE_HEADER", "PRIORITY_HEADER", "EventRouter", "Route", "send_routed"]

PRIORITY_HEADER = "conveyor-priority"
NOT_BEFORE_HEADER = "conveyor-not-before"

# The header takes a time by the rule its field does.
_TIMESTAMP: TypeAdapter[datetime] = TypeAdapter(Timestamp)

# An event's topic and the headers it adds to the CloudEvents ones.
Route = tuple[str, KafkaHeaders]


class EventRouter:
    """Routes the events of one stream."""

    def __init__(self, stream: StreamDeclaration) -> None:
        self._stream = stream
        self._routed = stream.priorities is not None or stream.delays is not None

    def route(
        self, events: list[dict[str, Any]], priority: str | None, not_before: str | None, now: float
    ) -> list[Route] | None:
        """Each event's route, its routing fields taken out; None when every event goes to
        the stream's own topic as it is. ``priority`` and ``not_before`` are the request's
        headers, ``now`` the time in Unix seconds."""
        if not self._routed and priority is None and not_before is None:
            return None
        default_level = self._level_header(priority)
        default_due = self._due_header(not_before)
        routes = []
        for event in events:
            level = event.pop(PRIORITY_FIELD, default_level)
            due = event.pop(NOT_BEFORE_FIELD, default_due)
            routes.append(self._route(level, due, now))
        return routes

    def _route(self, level: str | None, due: datetime | None, now: float) -> Route:
        delays = self._stream.delays
        if due is not None and delays is not None:
            remaining_ms = (due.timestamp() - now) * 1000
            if remaining_ms > 0:
                topic = self._stream.delay_topics[delays.tier_for(remaining_ms)]
                return topic, [(NOT_BEFORE, str(int(due.timestamp() * 1000)).encode())]
        return self._stream.level_topic(level), []

    def _level_header(self, value: str | None) -> str | None:
        if value is None:
            return None
        priorities = self._stream.priorities
        if priorities is None:
            raise _refusal(
                "Conveyor-Priority", f"stream {self._stream.name!r} declares no priorities"
            )
        if value not in priorities.levels:
            levels = ", ".join(repr(level) for level in priorities.levels)
            raise _refusal("Conveyor-Priority", f"unknown level {value!r}; levels: {levels}")
        return value

    def _due_header(self, value: str | None) -> datetime | None:
        if value is None:
            return None
        if self._stream.delays is None:
            raise _refusal(
                "Conveyor-Not-Before", f"stream {self._stream.name!r} declares no delays"
            )
        try:
            return _TIMESTAMP.validate_python(value)
        except ValidationError:
            raise _refusal(
                "Conveyor-Not-Before",
                f"{value!r} is not an RFC 3339 time with an offset (e.g. 2026-11-22T10:00:00Z)",
            ) from None


def _refusal(header: str, reason: str) -> InvalidEventsError:
    return InvalidEventsError([problem(None, ["header", header], reason, "header")])


async def send_routed(
    producer: AsyncProducer, records: Sequence[Outgoing], routes: Sequence[Route]
) -> list[Delivery | DeliveryError]:
    """Produce each record to its route's topic, with its route's headers; results in order."""
    by_topic: dict[str, list[int]] = {}
    for index, (topic, _) in enumerate(routes):
        by_topic.setdefault(topic, []).append(index)
    routed = [
        (key, value, [*headers, *routes[i][1]]) for i, (key, value, headers) in enumerate(records)
    ]
    sent = await asyncio.gather(
        *(
            producer.send_all(topic, [routed[i] for i in indices])
            for topic, indices in by_topic.items()
        )
    )
    results: dict[int, Delivery | DeliveryError] = {}
    for indices, outcomes in zip(by_topic.values(), sent, strict=True):
        results.update(zip(indices, outcomes, strict=True))
    return [results[index] for index in range(len(records))]
