"""What the API's answers say of each event, as Jepsen classes operations.

An answer in the 2xx range acks every event of the request: each must be applied exactly
once. A 4xx refuses them: none may ever be applied. A 5xx, a timeout or a lost
connection says nothing for sure: such an event may be applied at most once. A request
is sent again (the same events, the same ids) after an indeterminate answer, as a client
would; an event is acked if any attempt was acked.
"""

from __future__ import annotations

import threading
from collections import Counter
from enum import StrEnum

from support.chaos.plan import PlannedRequest

__all__ = ["Fate", "Ledger", "fate_of"]


class Fate(StrEnum):
    ACKED = "acked"
    REJECTED = "rejected"
    INDETERMINATE = "indeterminate"


def fate_of(status: int | None) -> Fate:
    """The class of one answer; ``None`` when there was none (a timeout, a lost connection)."""
    if status is not None and 200 <= status < 300:
        return Fate.ACKED
    if status is not None and 400 <= status < 500:
        return Fate.REJECTED
    return Fate.INDETERMINATE


class Ledger:
    """Thread-safe: the senders record each attempt and each request's final class."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.fates: dict[str, Fate] = {}
        self.streams: dict[str, str] = {}
        # Attempts by answer: "202", "422", "503", "no answer" ...
        self.answers: Counter[str] = Counter()
        self.sent = 0

    def attempted(self, status: int | None) -> None:
        with self._lock:
            self.answers["no answer" if status is None else str(status)] += 1

    def settled(self, request: PlannedRequest, fate: Fate) -> None:
        with self._lock:
            for event_id in request.event_ids:
                self.fates[event_id] = fate
                self.streams[event_id] = request.stream
            self.sent += len(request.events)

    def ids(self, fate: Fate, stream: str | None = None) -> set[str]:
        with self._lock:
            return {
                event_id
                for event_id, f in self.fates.items()
                if f is fate and (stream is None or self.streams[event_id] == stream)
            }

    def count(self, fate: Fate) -> int:
        with self._lock:
            return sum(1 for f in self.fates.values() if f is fate)
