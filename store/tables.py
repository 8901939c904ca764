"""The result store's tables: one ``MetaData``, created together."""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Column,
    Connection,
    DateTime,
    Float,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    Text,
    func,
    select,
)
from sqlalchemy.dialects import postgresql, sqlite

__all__ = [
    "advisory_lock",
    "deliveries",
    "idempotency_keys",
    "insert_ignoring_duplicates",
    "job_copies",
    "jobs",
    "metadata",
    "outbox",
    "revenue_per_minute",
    "schedule_ticks",
    "store_identity",
    "upsert",
]

metadata = MetaData()

# Text that clients write (ids, a currency) has no length: PostgreSQL enforces VARCHAR(n),
# SQLite does not, and one over-long value would fail its whole batch again and again.


def _landing() -> list[Column[object]]:
    """Where an event landed and when the API accepted it: a job's, and a copy's. New
    columns for each call, as each table needs its own."""
    return [
        Column("topic", String(255), nullable=False),
        Column("partition", Integer, nullable=False),
        Column("offset", BigInteger, nullable=False),
        Column("accepted_at", DateTime(timezone=True), nullable=False),
    ]


# One row per accepted event; its status is the job's. The primary key on event_id
# is the effectively-once gate: a worker applies an event's effects only in the
# transaction that moves its row to a final status, and only one transaction can.
# Whoever writes the row first (the API's queued insert or a worker's claim) gives the
# id to its stream, and writes where the event landed and when the API accepted it:
# those never change afterwards.
jobs = Table(
    "jobs",
    metadata,
    Column("event_id", String, primary_key=True),
    Column("stream", String(128), nullable=False),
    *_landing(),
    Column("status", String(16), nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False),
    Column("result", Text),
    Column("error", Text),
    Column("attempts", Integer, nullable=False, server_default="0"),
    # The current run: set by the worker's claim, so a status read tells who runs it since
    # when; progress is the handler's last report, written a few times a second at most.
    Column("started_at", DateTime(timezone=True)),
    Column("worker", String(255)),
    Column("progress", Float),
    Column("progress_message", Text),
    Column("partial_result", Text),
    # What an operator searches by and follows: the event's partition key (as text) and
    # the trace its records carry; written with the row, never changed.
    Column("key", String),
    Column("trace_id", String(32)),
)

# Events that came under an event_id another stream's job already owned: recorded so that
# the client of either stream can see what became of its event, and never applied. One
# row per id and stream; a later copy on the same stream is the same copy again.
job_copies = Table(
    "job_copies",
    metadata,
    Column("event_id", String, primary_key=True),
    Column("stream", String(128), primary_key=True),
    *_landing(),
    Column("recorded_at", DateTime(timezone=True), nullable=False),
)

# Records to publish, written in the transaction that decided them and published
# by the relay in seq order. AUTOINCREMENT: a seq is never reused after a prune,
# because the relay's progress is "every seq up to here is on Kafka".
outbox = Table(
    "outbox",
    metadata,
    Column("seq", BigInteger().with_variant(Integer, "sqlite"), primary_key=True),
    Column("topic", String(255), nullable=False),
    Column("key", LargeBinary),
    Column("value", LargeBinary),
    Column("headers", LargeBinary, nullable=False),
    sqlite_autoincrement=True,
)

# One row: this store's identity, made with its tables. The outbox relay commits its
# progress with it, and so tells its own progress from another store's.
store_identity = Table(
    "store_identity",
    metadata,
    Column("id", String, primary_key=True),
)

# E-mails whose sending reached its point of no return (see processors/mail.py).
deliveries = Table(
    "deliveries",
    metadata,
    Column("event_id", String, primary_key=True),
    Column("message_id", String, nullable=False),
    Column("committed_at", DateTime(timezone=True), nullable=False),
)

# The last tick each schedule fired (or skipped), as ``<stream>/<name>``: the leader that
# fires the next ticks moves it in the transaction that queues their events.
schedule_ticks = Table(
    "schedule_ticks",
    metadata,
    Column("schedule", String, primary_key=True),
    Column("last_tick", BigInteger, nullable=False),  # Unix milliseconds
)

# Each Idempotency-Key the API was sent, with the fingerprint of the request it came with,
# so that the key's reuse for another request is refused. Kept as long as the jobs: the
# key's events are jobs under ids made of it, and an expired key reused would make events
# the sinks absorb as copies of the first.
idempotency_keys = Table(
    "idempotency_keys",
    metadata,
    Column("key", String, primary_key=True),
    Column("stream", String(128), nullable=False),
    Column("fingerprint", String(64), nullable=False),  # SHA-256, hex
    Column("first_seen", DateTime(timezone=True), nullable=False),
)

# The reference pipeline's tumbling one-minute windows of revenue.
revenue_per_minute = Table(
    "revenue_per_minute",
    metadata,
    Column("region", String, primary_key=True),
    Column("currency", String, primary_key=True),
    Column("window_start", BigInteger, primary_key=True),  # Unix milliseconds
    Column("revenue_cents", BigInteger, nullable=False),
    Column("orders", BigInteger, nullable=False),
)


def upsert(conn: Connection, table: Table) -> sqlite.Insert | postgresql.Insert:
    """An ``INSERT`` that takes ``ON CONFLICT`` clauses, in the connection's dialect."""
    dialect = conn.dialect.name
    if dialect == "sqlite":
        return sqlite.insert(table)
    if dialect == "postgresql":
        return postgresql.insert(table)
    raise ValueError(f"the result store supports SQLite and PostgreSQL, not {dialect}")


def insert_ignoring_duplicates(conn: Connection, table: Table) -> sqlite.Insert | postgresql.Insert:
    return upsert(conn, table).on_conflict_do_nothing()


def advisory_lock(conn: Connection, key: int) -> None:
    """On PostgreSQL, wait for the advisory lock ``key``, held until the transaction ends.
    On SQLite, nothing: a writer holds the whole database until it commits."""
    if conn.dialect.name == "postgresql":
        conn.execute(select(func.pg_advisory_xact_lock(key)))
