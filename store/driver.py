"""Raw SQL through the DB-API driver, for the hot paths (a row per event) where
SQLAlchemy's per-parameter processing costs more than the database's own work."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, Dialect

__all__ = ["driver_cursor", "placeholder", "time_value"]


@contextmanager
def driver_cursor(conn: Connection) -> Iterator[Any]:
    """A cursor of the driver's own connection under ``conn``, in ``conn``'s transaction.
    Even ``exec_driver_sql`` wraps each statement in an execution context and its result
    rows in SQLAlchemy's, which cost a worker's claim and settle more than SQLite's work."""
    cursor = conn.connection.dbapi_connection.cursor()  # type: ignore[union-attr]
    try:
        yield cursor
    finally:
        cursor.close()


def placeholder(dialect: Dialect) -> str:
    """The driver's positional parameter marker: ``?`` for sqlite3, ``%s`` for psycopg."""
    return "?" if dialect.paramstyle == "qmark" else "%s"


def time_value(dialect: Dialect) -> Callable[[datetime], object]:
    """A timestamp as the driver should get it. sqlite3's implicit datetime adapter is
    deprecated, so SQLite gets the text SQLAlchemy would have written."""
    if dialect.name == "sqlite":
        return lambda at: at.isoformat(sep=" ")
    return lambda at: at
