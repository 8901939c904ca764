"""The engine with a stand-in processor: jobs run at once, acks follow delivery order,
a strict stream runs one key at a time, a job cancelled stops (or never starts), and a
job already final never runs."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from functools import partial
from typing import cast

from conveyor.config.streams import parse_stream
from conveyor.kafka.events import Consumed, Event, event_from
from conveyor.processors.engine import Engine
from conveyor.processors.stream_processor import Outcome, SettledBatch, StreamProcessor
from conveyor.schemas.exceptions import DecodeError
from conveyor.store import JobStatus, JobStore
from conveyor.store.results import Claim

# Claims and settles go through the store's writer thread; these never touch its tables.
_STORE = JobStore("sqlite://")


class _Processor:
    """Decodes a record's value as its event id; each job waits for its gate to open."""

    def __init__(
        self,
        ordering: str,
        done: set[str] | None = None,
        concurrency: int = 100,
        *,
        claims: bool = True,
    ) -> None:
        stream = parse_stream(
            "things",
            {
                "schema": "notifications.avsc",
                "key": "recipient",
                "ordering": ordering,
                "concurrency": concurrency,
            },
        )
        self.context = type("Context", (), {"stream": stream, "store": _STORE})()
        self.gates: dict[str, asyncio.Event] = {}
        self.started: list[str] = []
        self.settled: list[str] = []
        self.outcomes: dict[str, JobStatus] = {}
        self.done = done or set()
        self.claims = claims
        self.claimed: list[str] = []

    def decode(self, record: Consumed) -> tuple[Event, DecodeError | None]:
        assert record.value is not None
        value = {"event_id": record.value.decode()}
        return event_from(record, value), None

    def claim(self, events: list[Event]) -> Claim:
        self.claimed += [e.event_id for e in events]
        return Claim({e.event_id for e in events if e.event_id not in self.done}, {})

    async def attempt(self, event: Event) -> Outcome:
        self.started.append(event.event_id)
        await self.gates.setdefault(event.event_id, asyncio.Event()).wait()
        return Outcome(event, JobStatus.SUCCEEDED, 1)

    def settle(self, outcomes: list[Outcome]) -> set[str]:
        self.settled += [o.event.event_id for o in outcomes]
        self.outcomes.update((o.event.event_id, o.status) for o in outcomes)
        return {o.event.event_id for o in outcomes} - self.done

    def observe(self, settled: SettledBatch) -> None:
        pass

    def open(self, event_id: str) -> None:
        self.gates.setdefault(event_id, asyncio.Event()).set()


def _record(offset: int, key: str, event_id: str, partition: int = 0) -> Consumed:
    return Consumed("things", partition, offset, key.encode(), event_id.encode(), [], 0.0)


async def _until(check: Callable[[], bool]) -> None:
    """Let the engine's tasks run until ``check()`` holds (a deadline, as every wait)."""
    async with asyncio.timeout(5):
        while not check():  # noqa: ASYNC110 - the engine's tasks move on only as this yields
            await asyncio.sleep(0)


def _engine(processor: _Processor) -> Engine:
    return Engine(cast(StreamProcessor, processor))


def test_jobs_run_together_and_acks_follow_delivery_order() -> None:
    async def story() -> None:
        processor = _Processor("relaxed")
        engine = _engine(processor)
        acked: list[int] = []
        for offset in range(3):
            engine.accept(_record(offset, "k", f"e{offset}"), partial(acked.append, offset))
        await _until(lambda: len(processor.started) == 3)  # all three run at once
        processor.open("e2")
        processor.open("e1")
        await _until(lambda: len(processor.settled) == 2)
        assert acked == []  # e0 still runs: nothing past it may be committed
        processor.open("e0")
        await _until(lambda: acked == [0, 1, 2])
        engine.close()

    asyncio.run(story())


def test_a_strict_stream_runs_one_key_at_a_time_and_other_keys_meanwhile() -> None:
    async def story() -> None:
        processor = _Processor("strict")
        engine = _engine(processor)
        for offset, (key, event_id) in enumerate([("a", "a1"), ("a", "a2"), ("b", "b1")]):
            engine.accept(_record(offset, key, event_id), lambda: None)
        await _until(lambda: sorted(processor.started) == ["a1", "b1"])
        processor.open("b1")
        await _until(lambda: processor.settled == ["b1"])
        assert "a2" not in processor.started
        processor.open("a1")
        await _until(lambda: "a2" in processor.started)
        processor.open("a2")
        await _until(lambda: len(processor.settled) == 3)
        assert processor.settled == ["b1", "a1", "a2"]
        engine.close()

    asyncio.run(story())


def test_a_job_already_final_is_acked_without_running() -> None:
    async def story() -> None:
        processor = _Processor("relaxed", done={"old"})
        engine = _engine(processor)
        acked: list[int] = []
        engine.accept(_record(0, "k", "old"), lambda: acked.append(0))
        await _until(lambda: acked == [0])
        assert processor.started == []
        engine.close()

    asyncio.run(story())


def test_a_pure_handlers_jobs_run_unclaimed_and_the_settle_sets_the_final_one_aside() -> None:
    async def story() -> None:
        processor = _Processor("relaxed", done={"old"}, claims=False)
        engine = _engine(processor)
        acked: list[int] = []
        engine.accept(_record(0, "k", "old"), lambda: acked.append(0))
        engine.accept(_record(1, "k", "new"), lambda: acked.append(1))
        processor.open("old")
        processor.open("new")
        await _until(lambda: acked == [0, 1])
        assert processor.claimed == []
        assert sorted(processor.started) == ["new", "old"]  # computed again, then set aside
        assert sorted(processor.settled) == ["new", "old"]
        engine.close()

    asyncio.run(story())


def test_stopping_gives_up_jobs_past_the_grace_unsettled_and_unacked() -> None:
    async def story() -> None:
        processor = _Processor("relaxed")
        engine = _engine(processor)
        acked: list[int] = []
        engine.accept(_record(0, "k", "quick"), lambda: acked.append(0))
        engine.accept(_record(1, "k", "stuck"), lambda: acked.append(1))
        await _until(lambda: len(processor.started) == 2)
        processor.open("quick")
        await engine.stop(None, grace=0.05)
        assert processor.settled == ["quick"]
        assert acked == [0]
        assert len(engine) == 0
        engine.close()

    asyncio.run(story())


def test_jobs_given_up_at_a_revoke_leave_room_for_the_next_records() -> None:
    async def story() -> None:
        processor = _Processor("relaxed", concurrency=2)
        engine = _engine(processor)
        engine.accept(_record(0, "k", "stuck-0"), lambda: None)
        engine.accept(_record(1, "k", "stuck-1"), lambda: None)
        await _until(lambda: len(processor.started) == 2)
        await engine.stop(None, grace=0)
        assert len(engine) == 0
        async with asyncio.timeout(5):
            await engine.room()  # the agent's next batch goes in
        engine.close()

    asyncio.run(story())


def test_no_more_jobs_run_at_once_than_the_streams_concurrency() -> None:
    async def story() -> None:
        processor = _Processor("relaxed", concurrency=2)
        engine = _engine(processor)
        for offset in range(4):
            engine.accept(_record(offset, "k", f"e{offset}"), lambda: None)
        await _until(lambda: processor.started == ["e0", "e1"])
        processor.open("e1")
        await _until(lambda: processor.started == ["e0", "e1", "e2"])
        for event_id in ("e0", "e2", "e3"):
            processor.open(event_id)
        await _until(lambda: len(processor.settled) == 4)
        assert processor.started == ["e0", "e1", "e2", "e3"]
        engine.close()

    asyncio.run(story())


def test_a_partition_given_up_and_given_back_runs_its_records_again() -> None:
    async def story() -> None:
        processor = _Processor("strict")
        engine = _engine(processor)
        engine.accept(_record(0, "k", "job", partition=1), lambda: None)
        await _until(lambda: processor.started == ["job"])
        await engine.stop({("things", 1)}, grace=0.01)
        acked: list[int] = []
        engine.accept(_record(0, "k", "job", partition=1), lambda: acked.append(0))
        await _until(lambda: processor.started == ["job", "job"])
        processor.open("job")
        await _until(lambda: acked == [0])
        assert processor.settled == ["job"]
        engine.close()

    asyncio.run(story())


def test_a_running_job_cancelled_stops_settles_as_cancelled_and_frees_its_key() -> None:
    async def story() -> None:
        processor = _Processor("strict")
        engine = _engine(processor)
        acked: list[int] = []
        for offset, event_id in enumerate(["a1", "a2"]):
            engine.accept(_record(offset, "a", event_id), partial(acked.append, offset))
        await _until(lambda: processor.started == ["a1"])
        engine.cancel("a1")
        await _until(lambda: acked == [0])
        assert processor.outcomes == {"a1": JobStatus.CANCELLED}
        await _until(lambda: processor.started == ["a1", "a2"])  # the key's next one runs
        processor.open("a2")
        await _until(lambda: acked == [0, 1])
        assert processor.outcomes["a2"] is JobStatus.SUCCEEDED
        engine.close()

    asyncio.run(story())


def test_a_job_cancelled_while_it_waits_for_a_runner_never_starts() -> None:
    async def story() -> None:
        processor = _Processor("relaxed", concurrency=1)
        engine = _engine(processor)
        acked: list[int] = []
        for offset, event_id in enumerate(["e1", "e2"]):
            engine.accept(_record(offset, f"k{offset}", event_id), partial(acked.append, offset))
        await _until(lambda: processor.started == ["e1"] and "e2" in engine.running())
        engine.cancel("e2")
        processor.open("e1")
        await _until(lambda: acked == [0, 1])
        assert processor.started == ["e1"]
        assert processor.outcomes == {"e1": JobStatus.SUCCEEDED, "e2": JobStatus.CANCELLED}
        engine.close()

    asyncio.run(story())


def test_a_job_cancelled_while_it_waits_for_its_keys_turn_never_starts() -> None:
    async def story() -> None:
        processor = _Processor("strict")
        engine = _engine(processor)
        acked: list[int] = []
        for offset, event_id in enumerate(["a1", "a2", "a3"]):
            engine.accept(_record(offset, "a", event_id), partial(acked.append, offset))
        await _until(lambda: processor.started == ["a1"] and "a2" in engine.running())
        engine.cancel("a2")
        processor.open("a1")
        await _until(lambda: processor.started == ["a1", "a3"])
        processor.open("a3")
        await _until(lambda: acked == [0, 1, 2])
        assert processor.outcomes == {
            "a1": JobStatus.SUCCEEDED,
            "a2": JobStatus.CANCELLED,
            "a3": JobStatus.SUCCEEDED,
        }
        engine.close()

    asyncio.run(story())
