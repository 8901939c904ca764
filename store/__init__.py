"""The result store: job status and results, in SQLite (WAL) or PostgreSQL.

Every row is keyed by ``event_id``, unique: that constraint is what makes the
sinks idempotent, whoever writes a row twice.
"""

from conveyor.store.idempotency import IdempotencyKeys
from conveyor.store.jobs import JobCopy, JobProgress, JobRecord, JobStatus, JobStore

__all__ = ["IdempotencyKeys", "JobCopy", "JobProgress", "JobRecord", "JobStatus", "JobStore"]
