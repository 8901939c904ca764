"""Pure logic of replay and redrive: what a group reset moves, what a re-publish has left
to copy, which dead letters a redrive picks, and a dead letter's way back."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from conveyor.kafka.events import Consumed, event_from
from conveyor.kafka.headers import failure_headers, redriven_headers
from conveyor.ops.deadletters import DeadLetter
from conveyor.ops.offsets import OffsetMove
from conveyor.ops.ranges import PartitionRange
from conveyor.ops.redrive import Selection, was_redriven
from conveyor.ops.republish import RepublishPlan
from conveyor.processors.exceptions import InvalidEventError

AT = datetime(2026, 11, 1, 12, 0, tzinfo=UTC)


def test_a_group_moved_back_reads_again_what_it_had_consumed_and_one_moved_on_skips() -> None:
    back = OffsetMove("orders", 0, committed=120, new=80, end=150)
    ahead = OffsetMove("orders", 1, committed=100, new=130, end=150)
    fresh = OffsetMove("orders", 2, committed=None, new=10, end=150)

    assert (back.again, back.skipped) == (40, 0)
    assert (ahead.again, ahead.skipped) == (0, 30)
    assert (fresh.again, fresh.skipped) == (0, 0)
    assert back.where == "orders[0]"


def test_a_republish_resumes_where_earlier_copies_got_and_copies_nothing_twice() -> None:
    asked = [PartitionRange("src", p, 10, 100) for p in range(3)]
    plan = RepublishPlan("src", "dst", asked, asked, target_partitions=3)

    resumed = plan.after({0: 100, 1: 40, 2: 5})

    assert [(r.start, r.end) for r in resumed.ranges] == [(100, 100), (40, 100), (10, 100)]
    assert (resumed.to_copy, resumed.copied_before) == (150, 120)
    assert resumed.same_partitions
    assert "partition p to partition p" in resumed.mapping
    by_key = RepublishPlan("src", "dst", asked, asked, target_partitions=4)
    assert not by_key.same_partitions
    assert by_key.mapping.startswith("by key with murmur2")


def _dead_letter(error: BaseException, offset: int = 7) -> DeadLetter:
    source = Consumed(
        "orders", 4, 17, b"c-1", b"value", [("ce_id", b"e-1"), ("traceparent", b"tp")]
    )
    event = event_from(source, {"event_id": "e-1"})
    headers = failure_headers(event, 4, error, AT, None)
    dead = event_from(Consumed("orders.dlq", 4, offset, b"c-1", b"value", headers), None)
    return DeadLetter("orders.dlq", 4, offset, int(AT.timestamp() * 1000), dead)


def test_a_redriven_dead_letter_is_the_same_event_with_every_attempt_again() -> None:
    letter = _dead_letter(RuntimeError("smtp down"))
    assert (letter.event.attempts, letter.error_type) == (4, "RuntimeError")

    headers = redriven_headers(list(letter.event.headers.items()), letter.where)
    back = event_from(Consumed("orders", 4, 90, b"c-1", b"value", headers), None)

    assert (back.event_id, back.attempts) == ("e-1", 0)
    assert (back.topic, back.partition, back.offset) == ("orders", 4, 17)
    named = dict(headers)
    assert named["conveyor.redriven.from"] == b"orders.dlq[4]@7"
    assert named["conveyor.first.failure"] == b"2026-11-01T12:00:00.000+00:00"
    assert not {"conveyor.error.type", "conveyor.error.message", "conveyor.last.failure"} & set(
        named
    )
    assert named["traceparent"] == b"tp"


def test_a_redrive_selects_by_every_condition_given_and_knows_what_the_ledger_holds() -> None:
    invalid = _dead_letter(InvalidEventError("lines"))
    later = AT + timedelta(minutes=5)

    assert Selection(all_=True).matches(invalid)
    assert Selection().empty
    assert Selection(errors=frozenset({"InvalidEventError"})).matches(invalid)
    assert not Selection(errors=frozenset({"DecodeError"})).matches(invalid)
    assert not Selection(errors=frozenset({"InvalidEventError"}), since=later).matches(invalid)
    assert Selection(event_ids=frozenset({"e-1"}), until=later).matches(invalid)
    assert was_redriven(invalid, {(4, 7): invalid.millis})
    # The same position with another time: a DLQ topic made again, not the one redriven.
    assert not was_redriven(invalid, {(4, 7): invalid.millis - 1})
