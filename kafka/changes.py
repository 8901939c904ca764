"""The change feed of a stream's jobs, ``<topic>.status``: each claim, settle, progress
report and cancel, published through the outbox by the transaction that made it.

A transaction's changes become one record per partition of the stream's topic that its
jobs' events landed on, keyed by that partition's number: a settle of 500 jobs costs a
few records, not 500, and one job's changes (all from its partition, all through the
outbox in commit order) stay in order on one partition of the feed. A reader follows a
job, a key or the whole stream by reading the feed's partitions and picking the changes
it wants (``api/changes.py``).
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any

from conveyor.config import StreamDeclaration
from conveyor.kafka.records import OutboxRecord
from conveyor.schemas.serde import AvroEncoder
from conveyor.store.jobs import JobProgress, JobRecord

__all__ = ["ChangeFeedWriter", "change_of"]


def change_of(job: JobRecord, progress: JobProgress | None = None) -> dict[str, Any]:
    """``job``'s change as the feed carries it (with ``progress``, a progress report)."""
    return {
        "event_id": job.event_id,
        "key": job.key,
        "status": job.status.value,
        "attempts": job.attempts,
        "at": job.updated_at,
        "worker": job.worker,
        "progress": progress.fraction if progress else None,
        "message": progress.message if progress else None,
        "result": None if job.result is None else json.dumps(job.result, default=str),
        "error": job.error,
    }


class ChangeFeedWriter:
    """The outbox records of one stream's changes (its feed's schema registered under
    ``schema_id``)."""

    def __init__(self, stream: StreamDeclaration, schema_id: int) -> None:
        self._stream = stream.name
        self._topic = stream.change_feed.topic
        self._encoder = AvroEncoder(stream.change_feed.avro_schema, schema_id)

    def records(self, changes: Iterable[tuple[int, dict[str, Any]]]) -> list[OutboxRecord]:
        """One record per partition of ``(partition, change)`` pairs, changes in the order
        given."""
        by_partition: dict[int, list[dict[str, Any]]] = {}
        for partition, change in changes:
            by_partition.setdefault(partition, []).append(change)
        return [
            OutboxRecord(
                self._topic,
                str(partition).encode(),
                self._encoder.encode({"stream": self._stream, "changes": batch}),
                [],
            )
            for partition, batch in sorted(by_partition.items())
        ]
