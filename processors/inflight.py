"""What a worker holds of one stream, record by record: which may run, which are settled,
and what is safe to commit.

The worker runs many records at once and they finish in any order; Kafka commits one
offset per partition, meaning "everything below is done". So each partition keeps its
records in the order they were delivered, and only the run of settled records at its
head is *released* (handed back to Faust to ack, in delivery order): the committed
offset never passes a record still running, and a crash redelivers only what was not
released. This is Confluent's Parallel Consumer's bookkeeping (per-record completion,
committing only the contiguous prefix), kept here rather than left to Faust's acks:
Faust's consumer handles acks out of order only partly (a lone gap just above the
committed offset is not seen as one), and delivery order, not offset arithmetic, is
what holds across the gaps that transaction markers leave in a topic.

On a strict stream one key's records run one at a time, in delivery order: a record
*starts* only when the job of the one before it of its key (and partition) has *ended*
(:meth:`InFlight.finish`; a retry in place ends only with its last try). It need not wait
for that outcome's settle: outcomes settle in the order their jobs ended, in one
transaction or one after another, so a key's effects still land in delivery order, and a
crash before the settle redoes both. (Waiting for the settle made a busy key advance one
record per settle transaction.) Other keys run meanwhile, so a record that waits (a retry
in place, a slow job) holds its key only.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Generic, TypeVar

__all__ = ["Held", "InFlight", "Partition"]

R = TypeVar("R")

Partition = tuple[str, int]  # topic, partition


@dataclass(slots=True, eq=False)
class Held(Generic[R]):
    """One record in hand: where it came from, its key, and what the caller keeps with it."""

    tp: Partition
    offset: int
    key: bytes | None
    item: R
    settled: bool = False
    queued: bool = False  # in its key's line (running, or waiting to)


@dataclass(slots=True)
class _Line(Generic[R]):
    """A partition's records in delivery order, the unreleased ones only."""

    records: deque[Held[R]] = field(default_factory=deque)


class InFlight(Generic[R]):
    """The records of one stream this worker holds, from delivery until released.

    ``by_key``: records of one key run one at a time (strict streams); otherwise any
    record may start at once (relaxed streams)."""

    def __init__(self, *, by_key: bool) -> None:
        self._by_key = by_key
        self._partitions: dict[Partition, _Line[R]] = {}
        self._keys: dict[tuple[Partition, bytes | None], deque[Held[R]]] = {}
        self._count = 0

    def __len__(self) -> int:
        """Records held: delivered and not yet released."""
        return self._count

    def add(self, tp: Partition, offset: int, key: bytes | None, item: R) -> Held[R]:
        """Hold a record just delivered; a partition's records come in delivery order."""
        held = Held(tp, offset, key, item)
        line = self._partitions.get(tp)
        if line is None:
            line = self._partitions[tp] = _Line()
        line.records.append(held)
        self._count += 1
        return held

    def start(self, held: Held[R]) -> bool:
        """Put ``held`` in its key's line; True if it may run now, False if it waits for
        the records of its key ahead of it (returned by :meth:`finish` when its turn comes)."""
        if not self._by_key:
            return True
        held.queued = True
        line = self._keys.get((held.tp, held.key))
        if line is None:
            self._keys[(held.tp, held.key)] = deque([held])
            return True
        line.append(held)
        return False

    def finish(self, held: Held[R]) -> Held[R] | None:
        """``held``'s job ended (its outcome is to be settled): the record of its key that
        may start now, if one waited."""
        if not held.queued:
            return None
        held.queued = False
        line = self._keys[(held.tp, held.key)]
        line.popleft()  # a key's records start, and so end, in their line's order
        if line:
            return line[0]
        del self._keys[(held.tp, held.key)]
        return None

    def settle(self, held: Held[R]) -> list[Held[R]]:
        """Mark ``held`` settled (its job ended, or it never needed one). Returns the records
        now released: its partition's head of settled records, in delivery order (ack them)."""
        held.settled = True
        return self._release(held.tp)

    def forget(self, tps: Iterable[Partition]) -> list[Held[R]]:
        """Stop holding the records of ``tps`` (partitions this worker lost); returns those
        not settled yet, whose work the partitions' next owner will do again."""
        lost = set(tps)
        dropped: list[Held[R]] = []
        for tp in lost:
            line = self._partitions.pop(tp, None)
            if line is not None:
                self._count -= len(line.records)
                for held in line.records:
                    held.queued = False  # its key's line goes too
                    if not held.settled:
                        dropped.append(held)
        for key in [key for key in self._keys if key[0] in lost]:
            del self._keys[key]
        return dropped

    def unsettled(self) -> list[Held[R]]:
        """Every record held and not settled, partition by partition in delivery order."""
        return [h for line in self._partitions.values() for h in line.records if not h.settled]

    def _release(self, tp: Partition) -> list[Held[R]]:
        line = self._partitions.get(tp)
        released: list[Held[R]] = []
        if line is None:
            return released
        records = line.records
        while records and records[0].settled:
            released.append(records.popleft())
        self._count -= len(released)
        return released
