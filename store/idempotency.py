"""Idempotency keys: which request each key was first sent with."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Engine, select

from conveyor.store.tables import idempotency_keys, insert_ignoring_duplicates

__all__ = ["IdempotencyKeys"]


class IdempotencyKeys:
    """Synchronous access to the ``idempotency_keys`` table; callers on an event loop use
    a thread. The table is made with the store's others (``JobStore.create_schema``)."""

    def __init__(self, engine: Engine) -> None:
        self._engine = engine

    def claim(self, key: str, stream: str, fingerprint: str, at: datetime) -> tuple[str, str]:
        """Record a request to ``stream`` with ``fingerprint`` as ``key``'s first, unless the
        key has one; returns the stream and fingerprint of the key's first request.

        The key's row is the lock: of two requests inserting it at once, the database lets
        one in and makes the other wait for its commit (PostgreSQL's unique index, SQLite's
        single writer), so the second reads the first's fingerprint, whichever API process
        each came to.
        """
        with self._engine.begin() as conn:
            conn.execute(
                insert_ignoring_duplicates(conn, idempotency_keys).values(
                    key=key, stream=stream, fingerprint=fingerprint, first_seen=at
                )
            )
            first = conn.execute(
                select(idempotency_keys.c.stream, idempotency_keys.c.fingerprint).where(
                    idempotency_keys.c.key == key
                )
            ).one()
        return first.stream, first.fingerprint
