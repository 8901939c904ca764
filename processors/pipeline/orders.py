"""Orders: validate and enrich each one, and keep revenue per region and minute.

Enrichment is a pure function of the order, so a replayed order yields the same
record. Revenue is a tumbling one-minute window on the order's own time
(``placed_at``), kept in the result store and updated in the transaction that
applies the orders, so an order counts once however often it is delivered; each
update publishes the window's new total, keyed by window, to a compacted topic.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import Connection

from conveyor.kafka.events import Event
from conveyor.processors.exceptions import InvalidEventError
from conveyor.processors.handler import Handler, Output, Processed
from conveyor.store.tables import revenue_per_minute, upsert

__all__ = ["OrderHandler", "enrich", "revenue_deltas", "revenue_total", "window_of"]

WINDOW = timedelta(minutes=1)
# Order sizes by total, in minor units.
_MEDIUM_FROM = 5_000
_LARGE_FROM = 50_000


def window_of(at: datetime) -> datetime:
    """The start of the one-minute window ``at`` falls in."""
    return at.astimezone(UTC).replace(second=0, microsecond=0)


def enrich(order: dict[str, Any]) -> dict[str, Any]:
    """The enriched order, or :class:`InvalidEventError` naming the rule it breaks."""
    amount = order["amount_cents"]
    if amount < 0:
        raise InvalidEventError(f"amount_cents is negative: {amount}")
    items = order["items"]
    if any(item["quantity"] <= 0 for item in items):
        raise InvalidEventError("every line's quantity must be positive")
    lines_total = sum(item["quantity"] * item["unit_price_cents"] for item in items)
    if items and lines_total != amount:
        raise InvalidEventError(
            f"amount_cents {amount} is not the sum of the lines ({lines_total})"
        )
    return {
        "event_id": order["event_id"],
        "order_id": order["order_id"],
        "customer_id": order["customer_id"],
        "region": order["region"],
        "amount_cents": amount,
        "currency": order["currency"],
        "item_count": sum(item["quantity"] for item in items),
        "line_count": len(items),
        "size": _size(amount),
        "placed_at": order["placed_at"],
        "window_start": window_of(order["placed_at"]),
    }


class OrderHandler(Handler):
    pure = True  # enriching computes; the revenue is kept in apply()

    async def process(self, event: Event) -> Processed:
        enriched = enrich(event.value)
        result = {
            "size": enriched["size"],
            "item_count": enriched["item_count"],
            "window_start": enriched["window_start"].isoformat(),
        }
        return Processed(result, [Output("enriched", enriched)])

    def apply(self, conn: Connection, applied: Sequence[tuple[Event, Processed]]) -> list[Output]:
        deltas = revenue_deltas(event.value for event, _ in applied)
        if not deltas:
            return []
        insert = upsert(conn, revenue_per_minute)
        statement = insert.on_conflict_do_update(
            index_elements=["region", "currency", "window_start"],
            set_={
                "revenue_cents": revenue_per_minute.c.revenue_cents + insert.excluded.revenue_cents,
                "orders": revenue_per_minute.c.orders + insert.excluded.orders,
            },
        ).returning(*revenue_per_minute.c)
        rows = conn.execute(
            statement,
            [
                {
                    "region": region,
                    "currency": currency,
                    "window_start": _millis(start),
                    "revenue_cents": cents,
                    "orders": count,
                }
                for (region, currency, start), (cents, count) in deltas.items()
            ],
        )
        totals = {
            (row.region, row.currency, row.window_start): (row.revenue_cents, row.orders)
            for row in rows
        }
        outputs = []
        for key in deltas:
            region, currency, start = key
            cents, count = totals[(region, currency, _millis(start))]
            value = revenue_total(key, cents, count)
            # The window and its order count name this total: the same twice is a copy.
            outputs.append(Output("revenue", value, ce_id=f"{value['window']}#{count}"))
        return outputs


WindowKey = tuple[str, str, datetime]  # region, currency, window start


def revenue_deltas(orders: Iterable[dict[str, Any]]) -> dict[WindowKey, tuple[int, int]]:
    """What ``orders`` add to each window they fall in: (revenue in cents, orders), in
    window order."""
    deltas: dict[WindowKey, list[int]] = defaultdict(lambda: [0, 0])
    for order in orders:
        delta = deltas[(order["region"], order["currency"], window_of(order["placed_at"]))]
        delta[0] += order["amount_cents"]
        delta[1] += 1
    return {key: (cents, count) for key, (cents, count) in sorted(deltas.items())}


def revenue_total(key: WindowKey, revenue_cents: int, orders: int) -> dict[str, Any]:
    """A window's ``analytics.revenue_per_minute`` record, keyed by ``window``."""
    region, currency, start = key
    return {
        "window": f"{region}/{currency}/{start:%Y-%m-%dT%H:%MZ}",
        "region": region,
        "currency": currency,
        "window_start": start,
        "window_end": start + WINDOW,
        "revenue_cents": revenue_cents,
        "orders": orders,
    }


def _size(amount: int) -> str:
    if amount >= _LARGE_FROM:
        return "large"
    return "medium" if amount >= _MEDIUM_FROM else "small"


def _millis(at: datetime) -> int:
    return int(at.timestamp() * 1000)
