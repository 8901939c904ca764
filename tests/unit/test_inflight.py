"""The in-flight bookkeeping: what runs, what waits for its key, what may be committed."""

from __future__ import annotations

from conveyor.processors.inflight import Held, InFlight

P0 = ("orders", 0)
P1 = ("orders", 1)


def _offsets(records: list[Held[str]]) -> list[int]:
    return [held.offset for held in records]


def test_a_record_settled_out_of_order_releases_nothing_past_an_unsettled_one() -> None:
    book: InFlight[str] = InFlight(by_key=False)
    first, second, third = (book.add(P0, offset, b"k", "x") for offset in (10, 11, 12))
    assert _offsets(book.settle(third)) == []
    assert _offsets(book.settle(second)) == []
    assert len(book) == 3
    assert _offsets(book.settle(first)) == [10, 11, 12]
    assert len(book) == 0


def test_offsets_with_gaps_release_in_delivery_order() -> None:
    # Transaction markers leave gaps in a topic's offsets: order, not +1, decides.
    book: InFlight[str] = InFlight(by_key=False)
    a, b = book.add(P0, 3, None, "a"), book.add(P0, 7, None, "b")
    assert _offsets(book.settle(b)) == []
    assert _offsets(book.settle(a)) == [3, 7]


def test_partitions_release_independently() -> None:
    book: InFlight[str] = InFlight(by_key=False)
    slow = book.add(P0, 0, b"a", "slow")
    quick = book.add(P1, 0, b"b", "quick")
    assert _offsets(book.settle(quick)) == [0]
    assert len(book) == 1
    assert book.unsettled() == [slow]


def test_relaxed_records_all_start_at_once() -> None:
    book: InFlight[str] = InFlight(by_key=False)
    assert all(book.start(book.add(P0, offset, b"same", "x")) for offset in range(5))


def test_a_keys_records_start_one_after_another_in_delivery_order() -> None:
    book: InFlight[str] = InFlight(by_key=True)
    records = [book.add(P0, offset, b"k", str(offset)) for offset in range(3)]
    other = book.add(P0, 3, b"other", "3")
    assert [book.start(held) for held in records] == [True, False, False]
    assert book.start(other)  # another key does not wait behind k
    assert book.finish(other) is None
    assert book.settle(other) == []
    assert book.finish(records[0]) is records[1]
    assert book.finish(records[1]) is records[2]
    assert book.finish(records[2]) is None
    assert _offsets(book.settle(records[1])) == []  # ended in turn, settled out of order
    assert _offsets(book.settle(records[0])) == [0, 1]
    assert _offsets(book.settle(records[2])) == [2, 3]
    assert len(book) == 0


def test_a_keys_next_record_waits_for_the_job_before_it_to_end_not_to_settle() -> None:
    book: InFlight[str] = InFlight(by_key=True)
    first, second = (book.add(P0, offset, b"k", str(offset)) for offset in range(2))
    assert book.start(first)
    assert not book.start(second)
    assert book.finish(first) is second
    assert book.unsettled() == [first, second]  # the first's outcome is still to settle


def test_a_record_never_started_settles_without_holding_its_key() -> None:
    # A redelivered record whose job is already final is settled without running.
    book: InFlight[str] = InFlight(by_key=True)
    done_before = book.add(P0, 0, b"k", "copy")
    running = book.add(P0, 1, b"k", "job")
    assert book.start(running)
    assert _offsets(book.settle(done_before)) == [0]
    assert book.finish(running) is None
    assert _offsets(book.settle(running)) == [1]


def test_forgetting_a_partition_returns_its_unsettled_records_and_frees_its_keys() -> None:
    book: InFlight[str] = InFlight(by_key=True)
    kept = book.add(P1, 0, b"k", "kept")
    lost = [book.add(P0, offset, b"k", "lost") for offset in range(3)]
    book.start(kept)
    for held in lost:
        book.start(held)
    book.finish(lost[0])
    book.finish(lost[1])
    book.settle(lost[1])
    assert book.forget([P0]) == [lost[0], lost[2]]
    assert len(book) == 1
    again = book.add(P0, 0, b"k", "again")
    assert book.start(again)  # the key's old line went with its partition
