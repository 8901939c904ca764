"""Following a stream's change feed (``<topic>.status``, ``kafka/changes.py``) for a
Server-Sent Events response: a job's changes, a key's, or the whole stream's.

Each follower reads the feed's partitions with a consumer of its own (assigned, never
committed, ``read_committed``), in a thread of the API's pool for event streams, so that
a follower waiting for news never holds a thread the requests need. Every event sent
carries, as its SSE ``id``, where the follower stands in each partition of the feed:
``partition:offset.seen`` comma-separated, ``seen`` being how many changes of the record
at ``offset`` were passed already. A client that reconnects with that id as its
``Last-Event-ID`` goes on from exactly there, so it misses nothing that was published
(the feed keeps what the stream's retention keeps).
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncGenerator, Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

from conveyor.api.body import problem
from conveyor.api.exceptions import InvalidEventsError, OverloadedError
from conveyor.config import Settings
from conveyor.monitoring.topic_reader import TopicReader

__all__ = ["Change", "ChangeFollowers", "Position", "parse_position"]

# Seconds a follower's read waits for news before it looks again (and the response's
# keep-alive goes on meanwhile): short enough that a client gone is noticed soon.
_POLL_SECONDS = 0.5

_POSITION = re.compile(r"^(\d+):(\d+)\.(\d+)$")


@dataclass(frozen=True)
class Position:
    """Where a follower stands: per partition of the feed, the record to read next and
    how many of its changes were passed already."""

    at: Mapping[int, tuple[int, int]]

    def text(self) -> str:
        return ",".join(f"{p}:{o}.{seen}" for p, (o, seen) in sorted(self.at.items()))


def parse_position(text: str) -> Position:
    """A ``Last-Event-ID`` as :meth:`Position.text` wrote it."""
    at: dict[int, tuple[int, int]] = {}
    for part in text.split(","):
        match = _POSITION.match(part.strip())
        if match is None:
            raise InvalidEventsError(
                [
                    problem(
                        None,
                        ["header", "Last-Event-ID"],
                        "not an event id of this feed: partition:offset.seen, comma-separated",
                        "event_id",
                    )
                ]
            )
        partition, offset, seen = (int(g) for g in match.groups())
        at[partition] = (offset, seen)
    return Position(at)


@dataclass(frozen=True)
class Change:
    """One change read from the feed, and where the follower stands after it."""

    value: dict[str, Any]
    position: Position


class ChangeFollowers:
    """The API's followers of change feeds: at most ``limit`` at once, each with a thread."""

    def __init__(self, settings: Settings, limit: int) -> None:
        self._settings = settings
        self._limit = limit
        self._pool = ThreadPoolExecutor(limit, thread_name_prefix="conveyor-follower")
        self._following = 0

    def close(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)

    async def follow(
        self, topic: str, wanted: Callable[[dict[str, Any]], bool], start: Position | None
    ) -> tuple[Position, AsyncGenerator[Change | None]]:
        """Where the feed of ``topic`` ends now (or ``start``), and the ``wanted`` changes
        from there on, for as long as the caller iterates (None after a read that found
        none: the caller may send a keep-alive)."""
        if self._following >= self._limit:
            raise OverloadedError(
                f"{self._limit} event streams are open, the most this API serves",
                retry_after=5,
                reason="event_streams",
            )
        self._following += 1
        loop = asyncio.get_running_loop()
        offsets = {} if start is None else {p: o for p, (o, _) in start.at.items()}
        reader = TopicReader(self._settings, topic, from_beginning=False, start=offsets)
        try:
            await loop.run_in_executor(self._pool, reader.__enter__)
        except BaseException:
            self._following -= 1
            raise
        at = {p: (o, 0) for p, o in reader.ends.items()}
        if start is not None:
            at.update(start.at)
        return Position(dict(at)), self._changes(reader, wanted, at)

    async def _changes(
        self,
        reader: TopicReader,
        wanted: Callable[[dict[str, Any]], bool],
        at: dict[int, tuple[int, int]],
    ) -> AsyncGenerator[Change | None]:
        loop = asyncio.get_running_loop()
        try:
            while True:
                records = await loop.run_in_executor(self._pool, reader.poll, _POLL_SECONDS)
                if not records:
                    yield None
                for record in records:
                    partition, offset = record["partition"], record["offset"]
                    passed = at.get(partition, (offset, 0))
                    skip = passed[1] if passed[0] == offset else 0
                    changes = (record["value"] or {}).get("changes", [])
                    at[partition] = (offset + 1, 0)
                    for n, change in enumerate(changes):
                        if n < skip or not wanted(change):
                            continue
                        seen = (offset + 1, 0) if n + 1 == len(changes) else (offset, n + 1)
                        position = Position({**at, partition: seen})
                        yield Change(change, position)
        finally:
            self._following -= 1
            await loop.run_in_executor(self._pool, reader.__exit__, None, None, None)
