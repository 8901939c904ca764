"""Sample traffic: deterministic for a seed, and never two events with one id."""

from __future__ import annotations

from datetime import UTC, datetime

from conveyor.client.samples import sample_notifications, sample_orders

START = datetime(2026, 11, 1, 12, 0, tzinfo=UTC)


def _entropy(event_id: str) -> str:
    # What follows the 48-bit time and the version digit: the id's random part.
    return event_id[15:]


def test_orders_and_notifications_from_one_seed_draw_different_ids() -> None:
    # The demo makes both from one seed; an order and an e-mail of the same millisecond
    # with the same random bits would be one job for two events.
    for seed in range(200):
        orders = {_entropy(o["event_id"]) for o in sample_orders(50, START, seed)}
        notes = {_entropy(n["event_id"]) for n in sample_notifications(5, seed)}
        assert not orders & notes, seed


def test_the_same_seed_gives_the_same_orders() -> None:
    assert sample_orders(20, START, seed=4) == sample_orders(20, START, seed=4)
    assert sample_orders(20, START, seed=4) != sample_orders(20, START, seed=5)
