"""Levels taking turns in one worker: a lower level waits while a higher one has records
in hand, goes as soon as it has none, and keeps its share when it never runs dry; a poll
asks for the higher levels' records first."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Any

import pytest
from faust.types import TP

from conveyor.config import Priorities, load_settings
from conveyor.processors.priorities import PriorityGate, level_ranks, poll_order, rest_after


class _Queue:
    def __init__(self) -> None:
        self.size = 0

    def qsize(self) -> int:
        return self.size


class _Stream:
    """What the gate sees of a Faust stream: its channel's queue and its processors."""

    def __init__(self) -> None:
        self.channel = type("Channel", (), {"queue": _Queue()})()
        self.processors: list[Any] = []

    def add_processor(self, processor: Any) -> None:
        self.processors.append(processor)


def gate(share: float = 0.1) -> PriorityGate:
    return PriorityGate(Priorities(levels=("high", "normal", "low"), default="normal", share=share))


@pytest.mark.parametrize(
    ("batch_seconds", "share", "rest"), [(0.1, 0.1, 0.9), (1.0, 0.5, 1.0), (0.2, 0.2, 0.8)]
)
def test_a_held_back_level_rests_so_that_it_keeps_its_share(
    batch_seconds: float, share: float, rest: float
) -> None:
    assert rest_after(batch_seconds, share) == pytest.approx(rest)


def test_a_level_goes_at_once_when_no_level_above_has_work() -> None:
    levels = gate()
    high, _, low = levels.turns
    high.took(10)
    asyncio.run(high.done())

    low.took(10)
    asyncio.run(asyncio.wait_for(low.done(), timeout=1))


def test_a_level_waits_for_a_batch_above_and_goes_once_it_is_settled() -> None:
    async def story() -> None:
        levels = gate(share=0.001)
        high, normal, low = levels.turns
        high.took(5)
        normal.took(5)
        waiting = asyncio.ensure_future(normal.done())
        await asyncio.sleep(0)  # let it look: high has a batch in hand
        assert not waiting.done()
        assert levels.busy_above(2)
        await high.done()
        await asyncio.wait_for(waiting, timeout=1)
        assert not levels.busy_above(1)
        assert low.in_hand is False

    asyncio.run(story())


def test_records_queued_or_gathered_for_a_level_count_as_its_work() -> None:
    levels = gate()
    stream = _Stream()
    high = levels.turns[0]
    high.watch(stream, lambda: False)

    stream.channel.queue.size = 3
    assert levels.busy_above(1)
    stream.channel.queue.size = 0
    (count,) = stream.processors
    assert count(b"value") == b"value"  # gathered into the next batch: still in hand
    assert levels.busy_above(1)
    high.took(1)
    asyncio.run(high.done())
    assert not levels.busy_above(1)


def test_a_level_held_back_by_endless_work_above_still_gets_its_turn() -> None:
    levels = gate(share=0.5)
    levels.turns[0].took(1)  # never settled: the level above never runs dry

    asyncio.run(asyncio.wait_for(levels.wait_turn(2, batch_seconds=0.05), timeout=5))

    assert levels.busy_above(2)


def test_a_lower_level_settles_in_slices_and_the_top_level_in_one_go() -> None:
    levels = gate()
    slices: list[int] = []

    async def process(batch: Sequence[int]) -> None:
        slices.append(len(batch))

    asyncio.run(levels.turns[2].run(list(range(250)), process))
    asyncio.run(levels.turns[0].run(list(range(250)), process))

    assert slices == [100, 100, 50, 250]


def test_between_slices_a_lower_level_lets_a_higher_ones_batch_go_first() -> None:
    async def story() -> list[str]:
        levels = gate(share=0.001)
        high, _, low = levels.turns
        order: list[str] = []

        async def slow(batch: Sequence[int]) -> None:
            order.append(f"low {len(batch)}")
            if len(order) == 1:
                high.took(1)  # high work comes while the first slice settles

        running = asyncio.ensure_future(low.run(list(range(200)), slow))
        await asyncio.sleep(0)
        assert order == ["low 100"]
        assert not running.done()  # held before its second slice
        order.append("high 1")
        await high.done()
        await asyncio.wait_for(running, timeout=1)
        return order

    assert asyncio.run(story()) == ["low 100", "high 1", "low 100"]


def test_a_poll_asks_each_streams_levels_in_turn_highest_first_with_other_topics_at_the_top() -> (
    None
):
    streams = load_settings().streams
    orders = streams["orders"].model_copy(
        update={"priorities": Priorities(levels=("high", "normal", "low"), default="normal")}
    )
    ranks = level_ranks([orders, streams["notifications"]])
    high, normal, low = orders.level_topics
    partitions = [TP(topic, p) for topic in (low, normal, high, "orders.retry.1s") for p in (0, 1)]

    groups = poll_order(partitions, ranks)

    assert ranks == {normal: 1, low: 2}
    assert [sorted({tp.topic for tp in group}) for group in groups] == [
        sorted([high, "orders.retry.1s"]),
        [normal],
        [low],
    ]
    assert poll_order([TP(high, 0)], ranks) == [{TP(high, 0)}]


def test_jobs_a_level_handed_over_and_still_running_count_as_its_work() -> None:
    levels = gate()
    running = [True]
    levels.turns[0].watch(_Stream(), lambda: running[0])
    assert levels.busy_above(1)
    running[0] = False
    assert not levels.busy_above(1)
