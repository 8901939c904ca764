"""Raw SQL through the DB-API driver, for the hot paths (a row per event) where
SQLAlchemy's per-parameter processing costs more than the database's own work."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from sqlalchemy import Dialect

__all__ = ["placeholder", "time_value"]


def placeholder(dialect: Dialect) -> str:
    """The driver's positional parameter marker: ``?`` for sqlite3, ``%s`` for psycopg."""
    return "?" if dialect.paramstyle == "qmark" else "%s"


def time_value(dialect: Dialect) -> Callable[[datetime], object]:
    """A timestamp as the driver should get it. sqlite3's implicit datetime adapter is
    deprecated, so SQLite gets the text SQLAlchemy would have written."""
    if dialect.name == "sqlite":
        return lambda at: at.isoformat(sep=" ")
    return lambda at: at
