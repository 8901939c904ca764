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
import contextlib
import re
from collections.abc import AsyncIterator, Callable, Mapping
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, TypeVar

from conveyor.api.body import problem
from conveyor.api.exceptions import InvalidEventsError, OverloadedError
from conveyor.config import Settings
from conveyor.monitoring.topic_reader import TopicReader

__all__ = ["Change", "ChangeFollowers", "Following", "Position", "parse_position"]

T = TypeVar("T")

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
    """The API's followers of change feeds: ``limit`` at most (each with a consumer and a
    thread of a pool of that size), all ended when the API stops."""

    def __init__(self, settings: Settings, limit: int) -> None:
        self._settings = settings
        self._limit = limit
        self._pool = ThreadPoolExecutor(limit, thread_name_prefix="conveyor-follower")
        self._following = 0
        self._stopping = False

    def check_room(self) -> None:
        """503 if as many event streams as allowed are open (before a response starts)."""
        if self._following >= self._limit:
            raise OverloadedError(
                f"{self._limit} event streams are open, the most this API serves",
                retry_after=5,
                reason="event_streams",
            )

    def release(self) -> None:
        """End every event stream at its next read: the API is stopping, and the server
        waits for the responses in flight first."""
        self._stopping = True

    def close(self) -> None:
        """After the responses ended: their consumers close, then the threads go."""
        self._pool.shutdown(wait=True)

    @contextlib.asynccontextmanager
    async def follow(
        self, topic: str, wanted: Callable[[dict[str, Any]], bool], start: Position | None
    ) -> AsyncIterator[Following]:
        """The feed of ``topic`` followed from where it ends now (or ``start``), for the
        ``wanted`` changes."""
        self._following += 1
        offsets = {} if start is None else {p: o for p, (o, _) in start.at.items()}
        reader = TopicReader(self._settings, topic, from_beginning=False, start=offsets)
        following = Following(reader, wanted, self._pool, lambda: self._stopping)
        try:
            await following.open(start)
            yield following
        finally:
            self._following -= 1
            following.close()


class Following:
    """One follower: where it started (:attr:`position`) and the changes from there."""

    def __init__(
        self,
        reader: TopicReader,
        wanted: Callable[[dict[str, Any]], bool],
        pool: ThreadPoolExecutor,
        stopping: Callable[[], bool],
    ) -> None:
        self._reader = reader
        self._wanted = wanted
        self._pool = pool
        self._stopping = stopping
        self._busy: Future[Any] | None = None  # the reader's call in its thread, if any
        self._at: dict[int, tuple[int, int]] = {}
        self.position = Position({})

    async def open(self, start: Position | None) -> None:
        await self._call(self._reader.__enter__)
        self._at = {p: (o, 0) for p, o in self._reader.ends.items()}
        if start is not None:
            self._at.update(start.at)
        self.position = Position(dict(self._at))

    async def changes(self) -> AsyncIterator[Change | None]:
        """The wanted changes as they are read; None after a read that found none (the
        caller may send a keep-alive). Ends when the API stops."""
        at = self._at
        while not self._stopping():
            records = await self._call(self._reader.poll, _POLL_SECONDS)
            if not records:
                yield None
            for record in records:
                partition, offset = record["partition"], record["offset"]
                passed = at.get(partition, (offset, 0))
                skip = passed[1] if passed[0] == offset else 0
                changes = (record["value"] or {}).get("changes", [])
                at[partition] = (offset + 1, 0)
                for n, change in enumerate(changes):
                    if n < skip or not self._wanted(change):
                        continue
                    seen = (offset + 1, 0) if n + 1 == len(changes) else (offset, n + 1)
                    yield Change(change, Position({**at, partition: seen}))

    def close(self) -> None:
        """Close the consumer in its thread once the call in flight there returned. Not
        awaited: a response cancelled (its client gone) cancels every await of its own."""

        def shut(_: object = None) -> None:
            with contextlib.suppress(RuntimeError):  # the pool shut down with the API
                self._pool.submit(self._reader.__exit__, None, None, None)

        busy = self._busy
        if busy is not None and not busy.done():
            busy.add_done_callback(shut)
        else:
            shut()

    async def _call(self, call: Callable[..., T], *args: Any) -> T:
        self._busy = self._pool.submit(call, *args)
        return await asyncio.wrap_future(self._busy)
