"""Sample traffic for the demo, the tests and the benchmarks: deterministic for a seed."""

from __future__ import annotations

import random
from datetime import datetime, timedelta
from typing import Any

from conveyor.kafka.identity import uuid7

__all__ = ["json_ready", "sample_notifications", "sample_orders"]

REGIONS = ("eu", "na", "apac", "latam")


def sample_orders(count: int, start: datetime, seed: int = 7) -> list[dict[str, Any]]:
    """``count`` valid orders from a few hundred customers, placed a second apart."""
    rng = _rng("orders", seed)
    orders = []
    for n in range(count):
        lines = [
            (rng.randrange(50), rng.randint(1, 4), rng.randrange(100, 10_000))
            for _ in range(rng.randint(1, 3))
        ]
        placed_at = start + timedelta(seconds=n)
        orders.append(
            {
                # UUIDv7 at the order's time, as conveyor's client and API assign them.
                "event_id": uuid7(int(placed_at.timestamp() * 1000), rng.getrandbits(80)),
                "order_id": f"o-{n:07d}",
                "customer_id": f"c-{rng.randrange(300):04d}",
                "region": rng.choice(REGIONS),
                "amount_cents": sum(quantity * price for _, quantity, price in lines),
                "currency": "EUR",
                "items": [
                    {"sku": f"sku-{sku:03d}", "quantity": quantity, "unit_price_cents": price}
                    for sku, quantity, price in lines
                ],
                "placed_at": placed_at,
            }
        )
    return orders


def sample_notifications(count: int, seed: int = 7) -> list[dict[str, Any]]:
    """``count`` e-mails to a few dozen recipients at ``example.test``."""
    rng = _rng("notifications", seed)
    notes = []
    for n in range(count):
        recipient = f"customer-{rng.randrange(40):02d}@example.test"
        notes.append(
            {
                "event_id": uuid7(entropy=rng.getrandbits(80)),
                "recipient": recipient,
                "subject": f"Your order o-{n:07d} is on its way",
                "body": f"Hello,\n\nyour order o-{n:07d} has shipped.\n",
            }
        )
    return notes


def _rng(kind: str, seed: int) -> random.Random:
    # One generator per kind of sample: with the bare seed, orders and notifications made
    # from the same seed drew the same random bits for their event ids, and an order and
    # an e-mail placed in the same millisecond could share one (a job row for two events).
    return random.Random(f"{kind}/{seed}")  # noqa: S311 - sample data, not secrets


def json_ready(event: dict[str, Any]) -> dict[str, Any]:
    """``event`` as a client would post it: times as RFC 3339 strings."""
    return {k: v.isoformat() if isinstance(v, datetime) else v for k, v in event.items()}
