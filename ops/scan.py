"""Reading offset ranges of one topic raw and fast: records as confluent-kafka hands them
over, in large batches, never decoded; each partition stops at the end of its range.

The reader assigns partitions itself (no group membership, no rebalances) and never
commits: whoever reads decides what counts as progress. Its consumer's group id is
still meaningful, because a transactional copy commits its progress as that group's
offsets (see ``republish.py``).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable, Iterator
from types import TracebackType
from typing import Self

from confluent_kafka import Consumer, KafkaError, Message, TopicPartition

from conveyor.config import ClientConfig
from conveyor.ops.exceptions import ReplayError
from conveyor.ops.ranges import PartitionRange

__all__ = ["RangeReader", "reader_config"]

log = logging.getLogger(__name__)

# No record and no end-of-partition for this long: the broker is gone or a partition
# cannot be read; better a readable error than a copy that hangs.
_IDLE_SECONDS = 30.0


def reader_config(kafka: ClientConfig, group: str) -> ClientConfig:
    """A consumer tuned for bulk reads: big fetches, and told where each partition ends."""
    return {
        **kafka,
        "group.id": group,
        "enable.auto.commit": "false",
        "enable.auto.offset.store": "false",
        # Only committed records: an aborted transaction's records are not history.
        "isolation.level": "read_committed",
        # The end of a partition is an event, so a range ending at the end needs no wait.
        "enable.partition.eof": "true",
        "fetch.max.bytes": str(64 * 2**20),
        "max.partition.fetch.bytes": str(16 * 2**20),
        "queued.max.messages.kbytes": str(256 * 2**10),
    }


class RangeReader:
    """``with RangeReader(config, ranges) as reader: for batch in reader.batches(): ...``"""

    def __init__(self, config: ClientConfig, ranges: Iterable[PartitionRange], batch: int = 10_000):
        self._config = config
        self._ranges = {r.partition: r for r in ranges if r.count}
        self._batch = batch
        self.positions = {p: r.start for p, r in self._ranges.items()}

    def __enter__(self) -> Self:
        self.consumer = Consumer(self._config)
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.consumer.close()

    @property
    def covered(self) -> int:
        """Offsets read past so far, over every range (for progress)."""
        return sum(self.positions[p] - r.start for p, r in self._ranges.items())

    def batches(self) -> Iterator[list[Message]]:
        """The records of every range, in batches; per partition in offset order."""
        pending = dict(self._ranges)
        if not pending:
            return
        self.consumer.assign([TopicPartition(r.topic, p, r.start) for p, r in pending.items()])
        positions = self.positions
        heard = time.monotonic()
        while pending:
            messages = self.consumer.consume(self._batch, timeout=0.5)
            if not messages:
                if time.monotonic() - heard > _IDLE_SECONDS:
                    stuck = ", ".join(f"{r.where}@{self.positions[p]}" for p, r in pending.items())
                    raise ReplayError(f"nothing to read for {_IDLE_SECONDS:.0f}s at {stuck}")
                continue
            heard = time.monotonic()
            records = []
            for msg in messages:
                # Typed optional for messages made by hand; a consumed one always has both.
                partition = msg.partition() or 0
                current = pending.get(partition)
                if current is None:
                    continue  # fetched before its partition was paused
                if msg.error() is not None:
                    self._error(msg, pending)
                    continue
                offset = msg.offset() or 0
                if offset >= current.end:
                    self._finish(pending, partition)
                    continue
                records.append(msg)
                positions[partition] = offset + 1
                if offset + 1 >= current.end:
                    self._finish(pending, partition)
            if records:
                yield records

    def _finish(self, pending: dict[int, PartitionRange], partition: int) -> None:
        done = pending.pop(partition)
        self.positions[partition] = done.end
        # Paused, not unassigned: the consumer stops fetching past the range.
        self.consumer.pause([TopicPartition(done.topic, partition)])

    def _error(self, msg: Message, pending: dict[int, PartitionRange]) -> None:
        error = msg.error()
        assert error is not None
        if error.code() == KafkaError._PARTITION_EOF:
            self._finish(pending, msg.partition() or 0)
        elif error.fatal():
            where = f"{msg.topic()}[{msg.partition()}]"
            raise ReplayError(f"cannot read {where}: {error.str()}", code=error.name())
        else:
            # librdkafka reports passing trouble (a broker reconnecting) and retries itself.
            log.warning("consumer error code=%s reason=%s", error.name(), error.str())
