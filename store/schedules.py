"""Where each schedule got to: the last tick it fired, moved only from where it was.

Moving it is a compare-and-set inside the transaction that queues the ticks' events in
the outbox: of two workers that both believe they lead (the old leader has not yet
noticed it lost the group), only one moves it, and the other's transaction is rolled
back with its events. So each tick is queued once, whatever the failover.
"""

from __future__ import annotations

from sqlalchemy import Connection, select, update

from conveyor.store.tables import insert_ignoring_duplicates, schedule_ticks

__all__ = ["advance_schedule", "last_tick", "start_schedule"]


def last_tick(conn: Connection, schedule: str) -> int | None:
    """The last tick (Unix ms) ``schedule`` fired or skipped; None if it never ran."""
    found = conn.execute(
        select(schedule_ticks.c.last_tick).where(schedule_ticks.c.schedule == schedule)
    ).scalar_one_or_none()
    return None if found is None else int(found)


def start_schedule(conn: Connection, schedule: str, tick: int) -> None:
    """Record ``schedule`` as run up to ``tick``, unless it has run before."""
    conn.execute(
        insert_ignoring_duplicates(conn, schedule_ticks).values(schedule=schedule, last_tick=tick)
    )


def advance_schedule(conn: Connection, schedule: str, since: int, until: int) -> bool:
    """Move ``schedule`` from tick ``since`` to ``until``; False if it was no longer at
    ``since`` (another worker moved it first)."""
    moved = conn.execute(
        update(schedule_ticks)
        .where(schedule_ticks.c.schedule == schedule, schedule_ticks.c.last_tick == since)
        .values(last_tick=until)
    )
    return moved.rowcount == 1
