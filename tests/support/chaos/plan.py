"""What a chaos run sends: requests through the API, and poison straight to the topic.

Every event carries its ``event_id`` from the start, so each request can be told apart
downstream and a retried request is the same events again. One request in four is sent
once whatever its answer, as a client that never retries would, so that faults leave some
events indeterminate. About one request in a hundred carries an event the API must refuse
(its region does not exist): the whole request is refused, and none of its events may
ever be applied. The poison is written to the orders topic directly, half orders whose
lines do not add up, half bytes that are not Avro, so that exactly that many dead letters
are due whatever the faults do to the HTTP requests.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from conveyor.client.samples import json_ready, sample_notifications, sample_orders

__all__ = ["Plan", "PlannedRequest", "Poison", "make_plan"]

_BATCH_SIZES = (1, 5, 20, 50, 100)
_REFUSED_EVERY = 100  # about one request in this many carries an event the API refuses
_ONCE_EVERY = 4  # about one request in this many is never sent again
_NOTIFICATION_SHARE = 0.03
_START = datetime(2026, 11, 1, 12, 0, tzinfo=UTC)


@dataclass(frozen=True)
class PlannedRequest:
    """One POST: its stream, its events (JSON-ready), whether the API must refuse it and
    whether it is sent only once, whatever the answer."""

    stream: str
    events: tuple[dict[str, Any], ...]
    refused: bool = False
    once: bool = False

    @property
    def event_ids(self) -> list[str]:
        return [str(e["event_id"]) for e in self.events]


@dataclass(frozen=True)
class Poison:
    """Records written straight to the orders topic: ``orders`` break the amount rule,
    ``garbage`` is not Avro."""

    orders_seed: int
    orders: int
    garbage: tuple[bytes, ...]

    @property
    def count(self) -> int:
        return self.orders + len(self.garbage)


@dataclass(frozen=True)
class Plan:
    """Requests in the order they are sent; a poison chunk is written before the request
    of its index."""

    requests: list[PlannedRequest]
    poison: dict[int, Poison] = field(default_factory=dict)

    @property
    def events(self) -> int:
        """Every event: those posted and the poison."""
        return sum(len(r.events) for r in self.requests) + self.poison_count

    @property
    def poison_count(self) -> int:
        return sum(p.count for p in self.poison.values())

    @property
    def valid_events(self) -> int:
        """Events in requests the API should accept: what the workers must apply."""
        return sum(len(r.events) for r in self.requests if not r.refused)


def make_plan(events: int, poison: int, seed: int, poison_chunks: int = 5) -> Plan:
    """``events`` in all, ``poison`` of them written straight to the topic in chunks
    spread over the run; the rest posted in batches of 1 to 100."""
    rng = random.Random(f"chaos/{seed}")
    posted = events - poison
    notes = round(posted * _NOTIFICATION_SHARE)
    pending = {
        "orders": [json_ready(o) for o in sample_orders(posted - notes, _START, seed=seed)],
        "notifications": [json_ready(n) for n in sample_notifications(notes, seed=seed)],
    }
    requests: list[PlannedRequest] = []
    while pending["orders"] or pending["notifications"]:
        stream = "notifications" if rng.random() < _NOTIFICATION_SHARE else "orders"
        if not pending[stream]:
            stream = "orders" if stream == "notifications" else "notifications"
        size = min(rng.choice(_BATCH_SIZES), len(pending[stream]))
        batch, pending[stream] = pending[stream][:size], pending[stream][size:]
        refused = stream == "orders" and size > 1 and rng.randrange(_REFUSED_EVERY) == 0
        if refused:
            batch[rng.randrange(size)]["region"] = "atlantis"
        once = rng.randrange(_ONCE_EVERY) == 0
        requests.append(PlannedRequest(stream, tuple(batch), refused, once))
    return Plan(requests, _poison_chunks(poison, poison_chunks, len(requests), seed))


def _poison_chunks(poison: int, chunks: int, requests: int, seed: int) -> dict[int, Poison]:
    """``poison`` records in ``chunks`` nearly equal chunks, at even points of the run."""
    spread: dict[int, Poison] = {}
    for n in range(chunks):
        size = poison // chunks + (1 if n < poison % chunks else 0)
        at = (n + 1) * requests // (chunks + 1)
        garbage = tuple(
            b"\x00\x00\x00\x7f\xffnot avro" if i % 2 else b'{"not": "avro"}'
            for i in range(size - size // 2)
        )
        spread[at] = Poison(orders_seed=seed * 1_000 + n, orders=size // 2, garbage=garbage)
    return spread
