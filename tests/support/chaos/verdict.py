"""What a chaos run left behind, held against what the API answered.

After the drain: the result store's jobs and revenue windows, the output topics and the
DLQs read ``read_committed`` from start to end, and the mail server's messages. Each
guarantee is a count that must be zero (or a bound), so a failure says how far off it was.

Per-key order on the strict ``orders`` stream: one customer's orders share an input
partition, and their order there (the first copy of each event, as the workers meet it)
is the order they must be applied in. Their enriched records share an output partition,
published in the order the workers applied them. A customer's enriched records whose
input offsets go backwards are a violation, one per step back.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import create_engine, select

from conveyor.common.text_table import format_table
from conveyor.config import Settings
from conveyor.processors.pipeline.notifications import message_id
from conveyor.processors.pipeline.orders import window_of
from conveyor.store.jobs import FINAL_STATUSES
from conveyor.store.tables import jobs, revenue_per_minute
from support.chaos.ledger import Fate, Ledger
from support.chaos.plan import Plan
from support.events import read_to_end

__all__ = ["Verdict", "judge"]

_FINAL = {s.value for s in FINAL_STATUSES}


@dataclass
class Verdict:
    sent: int
    acked: int
    rejected: int
    indeterminate: int
    applied: int
    indeterminate_applied: int
    lost: int  # acked, and not applied or without its output or e-mail
    wrong_status: int  # acked valid events that ended other than succeeded
    rejected_applied: int
    duplicated: int  # extra copies read_committed: outputs, e-mails, dead letters
    revenue_windows_off: int  # windows whose total is not the sum of their applied orders
    dead_lettered: int
    poison: int
    order_violations: int
    recovery_seconds: float | None = None
    duration_seconds: float = 0.0
    answers: Counter[str] = field(default_factory=Counter)
    details: dict[str, int] = field(default_factory=dict)

    def problems(self, recovery_limit: float) -> list[str]:
        """Every guarantee that did not hold, in words."""
        checks = {
            "acked events lost": self.lost,
            "acked events with another status than succeeded": self.wrong_status,
            "rejected events applied": self.rejected_applied,
            "duplicates read_committed": self.duplicated,
            "revenue windows off": self.revenue_windows_off,
            "per-key order violations": self.order_violations,
            "dead letters other than the poison": abs(self.dead_lettered - self.poison),
        }
        found = [f"{name}: {count}" for name, count in checks.items() if count]
        if self.recovery_seconds is None or self.recovery_seconds > recovery_limit:
            found.append(f"recovery after the last fault: {self.recovery_seconds} s")
        return found

    def table(self) -> str:
        recovery = "-" if self.recovery_seconds is None else f"{self.recovery_seconds:.1f} s"
        rows = [
            ("sent (events through the API)", f"{self.sent:,}"),
            ("acked (2xx: exactly once)", f"{self.acked:,}"),
            ("rejected (4xx: never)", f"{self.rejected:,}"),
            ("indeterminate (5xx, timeout: at most once)", f"{self.indeterminate:,}"),
            ("applied", f"{self.applied:,}"),
            ("  of them indeterminate", f"{self.indeterminate_applied:,}"),
            ("lost", f"{self.lost:,}"),
            ("duplicated (read_committed)", f"{self.duplicated:,}"),
            ("dead-lettered (poison written)", f"{self.dead_lettered:,} ({self.poison:,})"),
            ("rejected applied", f"{self.rejected_applied:,}"),
            ("revenue windows off", f"{self.revenue_windows_off:,}"),
            ("per-key order violations (orders)", f"{self.order_violations:,}"),
            ("recovery after the last fault", recovery),
            ("duration", f"{self.duration_seconds:.0f} s"),
            ("answers", ", ".join(f"{k}: {v:,}" for k, v in sorted(self.answers.items()))),
        ]
        rows += [(f"  {name}", f"{count:,}") for name, count in self.details.items()]
        return format_table([("figure", "value"), *rows], "lr")


def judge(settings: Settings, plan: Plan, ledger: Ledger, emails: Iterable[str]) -> Verdict:
    """The verdict on a drained run (``emails``: the Message-IDs the mail server got)."""
    statuses = _statuses(settings)
    acked = ledger.ids(Fate.ACKED)
    indeterminate = ledger.ids(Fate.INDETERMINATE)
    rejected = ledger.ids(Fate.REJECTED)
    final = {i for i, s in statuses.items() if s in _FINAL}

    orders = settings.streams["orders"]
    enriched = read_to_end(settings, orders.outputs["enriched"].topic, decode=False)
    enriched_ids = Counter(r["headers"]["ce_id"].decode() for r in enriched)
    mails = Counter(emails)
    dead = [
        r
        for stream in settings.streams.values()
        for r in read_to_end(settings, stream.dlq_topic, decode=False)
    ]
    dead_where = Counter(
        tuple(r["headers"][f"conveyor.original.{k}"] for k in ("topic", "partition", "offset"))
        for r in dead
    )
    succeeded = {i for i, s in statuses.items() if s == "succeeded"}
    acked_orders = acked & ledger.ids(Fate.ACKED, "orders")
    acked_notes = acked - acked_orders
    details = {
        "enriched records missing": len(acked_orders - set(enriched_ids)),
        "e-mails missing": len({i for i in acked_notes if message_id(i) not in mails}),
        "enriched duplicates": _extra(enriched_ids),
        "e-mail duplicates": _extra(mails),
        "dead-letter duplicates": _extra(dead_where),
    }
    return Verdict(
        sent=ledger.sent,
        acked=len(acked),
        rejected=len(rejected),
        indeterminate=len(indeterminate),
        applied=len((acked | indeterminate) & final),
        indeterminate_applied=len(indeterminate & final),
        lost=len(acked - final) + details["enriched records missing"] + details["e-mails missing"],
        wrong_status=len((acked & final) - succeeded),
        rejected_applied=len(rejected & set(statuses)),
        duplicated=sum(details[k] for k in details if k.endswith("duplicates")),
        revenue_windows_off=_revenue_windows_off(settings, plan, succeeded),
        dead_lettered=len(dead),
        poison=plan.poison_count,
        order_violations=_order_violations(settings, enriched),
        answers=ledger.answers,
        details=details,
    )


def _statuses(settings: Settings) -> dict[str, str]:
    engine = create_engine(settings.database_url)
    try:
        with engine.connect() as conn:
            rows = conn.execute(select(jobs.c.event_id, jobs.c.status))
            return {event_id: status for event_id, status in rows}
    finally:
        engine.dispose()


def _extra(counts: Counter[Any]) -> int:
    return sum(n - 1 for n in counts.values() if n > 1)


def _revenue_windows_off(settings: Settings, plan: Plan, succeeded: set[str]) -> int:
    """Windows of the store whose total differs from the sum of their succeeded orders."""
    expected: dict[tuple[str, str, int], int] = defaultdict(int)
    for request in plan.requests:
        if request.stream != "orders":
            continue
        for order in request.events:
            if order["event_id"] in succeeded:
                start = window_of(datetime.fromisoformat(order["placed_at"]))
                key = (order["region"], order["currency"], int(start.timestamp() * 1000))
                expected[key] += order["amount_cents"]
    engine = create_engine(settings.database_url)
    try:
        with engine.connect() as conn:
            rows = conn.execute(
                select(
                    revenue_per_minute.c.region,
                    revenue_per_minute.c.currency,
                    revenue_per_minute.c.window_start,
                    revenue_per_minute.c.revenue_cents,
                )
            )
            stored = {(r, c, w): cents for r, c, w, cents in rows}
    finally:
        engine.dispose()
    return sum(1 for key in stored.keys() | expected.keys() if stored.get(key) != expected.get(key))


def _order_violations(settings: Settings, enriched: list[dict[str, Any]]) -> int:
    """Steps back, per customer, in the input order of their enriched records."""
    first_seen: dict[str, int] = {}
    for record in read_to_end(settings, settings.streams["orders"].topic, decode=False):
        ce_id = record["headers"].get("ce_id")
        if ce_id is not None:
            first_seen.setdefault(ce_id.decode(), record["offset"])
    violations = 0
    last: dict[str, int] = {}
    for record in sorted(enriched, key=lambda r: (r["partition"], r["offset"])):
        offset = first_seen[record["headers"]["ce_id"].decode()]
        customer = record["key"]
        if customer in last and offset < last[customer]:
            violations += 1
        last[customer] = offset
    return violations
