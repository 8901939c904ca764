"""Batches of what is in hand: records queued together go together, as soon as the queue
runs dry, never more than the size at a time, and a record that comes alone goes alone."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

from conveyor.processors.in_hand import in_hand


async def _events(queue: asyncio.Queue[int]) -> AsyncIterator[int]:
    while True:
        yield await queue.get()


def _batches(queued: list[int], later: list[int], size: int, count: int) -> list[list[int]]:
    """The first ``count`` batches of ``queued`` (all in the queue at the start), then of
    ``later`` (put there once the queued ones were all handed over)."""

    async def main() -> list[list[int]]:
        queue: asyncio.Queue[int] = asyncio.Queue()
        for value in queued:
            queue.put_nowait(value)
        batches: list[list[int]] = []
        async for batch in in_hand(_events(queue), queue.empty, size):
            batches.append(batch)
            if sum(map(len, batches)) == len(queued):
                for value in later:
                    queue.put_nowait(value)
            if len(batches) == count:
                return batches
        raise AssertionError("the events ended")

    return asyncio.run(asyncio.wait_for(main(), timeout=5))


def test_records_queued_together_go_in_one_batch_without_waiting_for_more() -> None:
    assert _batches([1, 2, 3], [], size=10, count=1) == [[1, 2, 3]]


def test_a_batch_holds_at_most_its_size() -> None:
    assert _batches([1, 2, 3, 4, 5], [], size=2, count=3) == [[1, 2], [3, 4], [5]]


def test_records_that_come_later_go_in_a_batch_of_their_own() -> None:
    assert _batches([1, 2], [3, 4], size=10, count=2) == [[1, 2], [3, 4]]
