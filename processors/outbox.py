"""The outbox relay: publishes what the workers decided, each record once.

Workers never produce their results directly. They write them to the result store's
``outbox`` table in the same transaction that moves the jobs to their final status,
and the relay publishes the outbox in ``seq`` order, in Kafka transactions. Each
transaction also commits "published up to seq N" as the offset of the (empty)
``_conveyor-outbox`` topic for the relay's own consumer group, so what is on Kafka
and how far the relay got cannot disagree: a relay that dies mid-transaction has it
aborted, and the next one starts from the last committed seq. Readers with
``isolation.level=read_committed`` see each record once.

One relay runs per worker group, on the Faust leader. The transactional id is the
same for every relay of the group, so a new one fences an old one that has not
noticed it lost the leadership (its commit fails instead of publishing twice).

The relay publishes in rounds (read what the outbox holds past its progress, publish it
in one transaction, commit), one after another on a thread of its own that keeps its
producer: the worker starts a round as soon as one of its settles wrote to the outbox, and
so a result waits for the transaction before it, never for a timer.

The same fencing lets a relay give up on a producer stuck in librdkafka: a transaction
whose coordinator died mid-way can wait in ``send_offsets_to_transaction`` for ever, past
its timeout (librdkafka #5456, #5511, open). The relay leaves such a producer to its
thread and opens a new one on a new thread, whose ``init_transactions`` fences the old
and aborts its transaction: whatever the old one does later cannot commit. And
``publish`` never raises: a broker or store outage only means nothing was published this
round, and the relay starts afresh on the next.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import queue
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future
from typing import TypeVar

from confluent_kafka import Consumer, KafkaException, Producer, TopicPartition
from sqlalchemy.exc import SQLAlchemyError

from conveyor.config import Settings
from conveyor.kafka.config import producer_config
from conveyor.kafka.records import OutboxRecord
from conveyor.kafka.topics import OUTBOX_TOPIC
from conveyor.store import JobStore
from conveyor.store.results import OutboxRow, outbox_after, prune_outbox

__all__ = ["OutboxRelay"]

log = logging.getLogger(__name__)

_TIMEOUT = 30.0

# How long closing the relay waits for its thread (a stuck one is left to itself).
_CLOSE_SECONDS = 5.0

# Published records are deleted at most this often. A DELETE takes the store's write
# lock, which the workers' claims and settles wait for; the relay reads past its progress
# by the primary key, so the published records left meanwhile cost it nothing.
_PRUNE_SECONDS = 1.0

T = TypeVar("T")


class OutboxRelay:
    """The group's relay, in this worker; the worker awaits :meth:`publish` on the
    leader only."""

    def __init__(self, settings: Settings, store: JobStore, batch: int = 5_000) -> None:
        self._settings = settings
        self._store = store
        self.batch = batch
        self._publisher: _Publisher | None = None

    @property
    def group_id(self) -> str:
        return f"{self._settings.workers.group_id}.outbox"

    @property
    def publishing(self) -> bool:
        """Whether the relay holds a producer (or is opening one)."""
        return self._publisher is not None

    @property
    def _transaction_timeout(self) -> float:
        return self._settings.workers.session_timeout_seconds * 3

    @property
    def _stuck_after(self) -> float:
        # A transaction takes about a second; one still running after half its timeout is
        # stuck, or so slow that running it again on a new producer costs less than waiting.
        return self._transaction_timeout / 2

    async def publish(self) -> int:
        """Publish the next records, if any, in one transaction; returns how many (0 also
        when Kafka or the store failed this round: the relay starts afresh on the next)."""
        publisher = self._publisher
        if publisher is None:
            publisher = self._publisher = _Publisher(
                self._settings, self._store, self.group_id, self.batch, self._transaction_timeout
            )
        try:
            async with asyncio.timeout(self._stuck_after):
                return await asyncio.wrap_future(publisher.round())
        except TimeoutError:
            log.error(
                "outbox transaction stuck in librdkafka for %.0fs; leaving its producer, "
                "which the next one fences group=%s first_seq=%d",
                self._stuck_after,
                self.group_id,
                publisher.first_seq,
            )
            publisher.retire()
            self._publisher = None
            return 0

    def close(self) -> None:
        """Stop publishing until the next :meth:`publish`; returns once the relay's
        clients are closed (or after a few seconds, if its thread is stuck)."""
        publisher, self._publisher = self._publisher, None
        if publisher is not None:
            with contextlib.suppress(TimeoutError):
                publisher.retire().result(_CLOSE_SECONDS)


class _Publisher:
    """A transactional producer, its progress, and the thread that runs the relay's
    rounds with them one after another. A publisher stuck in librdkafka is left to its
    thread, which ends if the call ever returns; until then only that thread touches it."""

    def __init__(
        self,
        settings: Settings,
        store: JobStore,
        group_id: str,
        batch: int,
        transaction_timeout: float,
    ) -> None:
        self._settings = settings
        self._store = store
        self._group_id = group_id
        self._batch = batch
        self._transaction_timeout = transaction_timeout
        self._producer: Producer | None = None
        self._consumer: Consumer | None = None
        self._published = 0
        self._pruned = 0  # the seq up to which published records were deleted
        self._pruned_at = 0.0
        self._store_id = ""
        self.first_seq = 0  # of the round running, for the log
        self._calls: queue.SimpleQueue[Callable[[], None] | None] = queue.SimpleQueue()
        threading.Thread(target=self._serve, name="outbox-relay", daemon=True).start()

    def round(self) -> Future[int]:
        """Publish the next records, if any, in one transaction, on the thread."""
        return self._submit(self._round)

    def retire(self) -> Future[None]:
        """Close the clients and end the thread, after the round running, if any."""
        closed = self._submit(self._close)
        self._calls.put(None)
        return closed

    def _submit(self, call: Callable[[], T]) -> Future[T]:
        future: Future[T] = Future()

        def run() -> None:
            if future.set_running_or_notify_cancel():
                try:
                    future.set_result(call())
                except BaseException as exc:
                    future.set_exception(exc)

        self._calls.put(run)
        return future

    def _serve(self) -> None:
        while (run := self._calls.get()) is not None:
            run()

    def _round(self) -> int:
        try:
            return self._publish()
        except (KafkaException, SQLAlchemyError) as exc:
            log.warning("outbox relay starting afresh error=%r", exc)
            self._close()
            return 0

    def _publish(self) -> int:
        if self._producer is None:
            self._open()
        assert self._producer is not None
        assert self._consumer is not None
        with self._store.engine.connect() as conn:
            rows = outbox_after(conn, self._published, self._batch)
        if not rows:
            # At rest: what was published since the last prune goes now, so an idle
            # outbox is empty (readers of its size wait for that).
            self._prune()
            return 0
        self.first_seq = rows[0].seq
        try:
            self._transact(self._producer, self._consumer, rows)
        except KafkaException as exc:
            self._recover(exc)
            return 0
        self._published = rows[-1].seq
        if time.monotonic() - self._pruned_at >= _PRUNE_SECONDS:
            self._prune()
        return len(rows)

    def _prune(self) -> None:
        if self._pruned < self._published:
            with self._store.engine.begin() as conn:
                prune_outbox(conn, self._published)
            self._pruned = self._published
        self._pruned_at = time.monotonic()

    def _close(self) -> None:
        if self._consumer is not None:
            self._consumer.close()
        self._producer = self._consumer = None

    def _transact(self, producer: Producer, consumer: Consumer, rows: list[OutboxRow]) -> None:
        """One transaction: the rows, and "published up to the last of them" as an offset."""
        producer.begin_transaction()
        for row in rows:
            self._produce(
                producer, row.topic, row.key, row.value, OutboxRecord.headers_from_blob(row.headers)
            )
        producer.send_offsets_to_transaction(
            [TopicPartition(OUTBOX_TOPIC, 0, rows[-1].seq, metadata=self._store_id)],
            consumer.consumer_group_metadata(),
            _TIMEOUT,
        )
        producer.commit_transaction(_TIMEOUT)

    def _open(self) -> None:
        producer = Producer(
            producer_config(
                self._settings.kafka,
                **{
                    "transactional.id": self._group_id,
                    "transaction.timeout.ms": str(int(self._transaction_timeout * 1000)),
                    # The transaction's commit sends whatever is queued at once: lingering
                    # could only hold records back from the transaction about to commit.
                    "linger.ms": "0",
                    # A transaction begun while the coordinator still writes the last one's
                    # markers has its AddOffsetsToTxn refused (CONCURRENT_TRANSACTIONS), and
                    # librdkafka retries it after 100 ms by default, doubling up to 1 s: a
                    # round that followed another took ~105 ms, and ~5 ms with 1 ms doubling
                    # up to 5 (back-to-back transactions of 20 records, p50; p99 ~27 ms).
                    "retry.backoff.ms": "1",
                    "retry.backoff.max.ms": "5",
                },
            )
        )
        # Fences any earlier relay of this group and aborts its open transaction, so the
        # offset read next is final.
        producer.init_transactions(_TIMEOUT)
        consumer = Consumer(
            {
                **self._settings.kafka.librdkafka_config(),
                "group.id": self._group_id,
                "enable.auto.commit": "false",
                "isolation.level": "read_committed",
            }
        )
        (committed,) = consumer.committed([TopicPartition(OUTBOX_TOPIC, 0)], _TIMEOUT)
        self._store_id = self._store.identity()
        self._published = max(committed.offset, 0)
        if committed.metadata and committed.metadata != self._store_id:
            # The group's progress counts another store's seqs (a fresh store, the same
            # group): this store's records were never published, whatever their seqs.
            log.warning(
                "outbox progress belongs to another result store; publishing this one's "
                "from its start group=%s progress_seq=%d progress_store=%s store=%s",
                self._group_id,
                self._published,
                committed.metadata,
                self._store_id,
            )
            self._published = 0
        self._producer, self._consumer = producer, consumer
        log.info("outbox relay ready group=%s published_seq=%d", self._group_id, self._published)

    @staticmethod
    def _produce(
        producer: Producer,
        topic: str,
        key: bytes | None,
        value: bytes | None,
        headers: list[tuple[str, str | bytes | None]],
    ) -> None:
        while True:
            try:
                producer.produce(topic, value=value, key=key, headers=headers)
                return
            except BufferError:
                producer.poll(0.05)  # the local queue is full: let deliveries drain it

    def _recover(self, exc: KafkaException) -> None:
        error = exc.args[0]
        if error.txn_requires_abort():
            log.warning("outbox transaction aborted; will retry error=%s", error.str())
            assert self._producer is not None
            try:
                self._producer.abort_transaction(_TIMEOUT)
                return
            except KafkaException:
                pass
        # Fenced (another relay took over) or fatal: start afresh on the next round, and
        # read the committed progress again.
        log.warning("outbox relay restarting error=%s", error.str())
        self._close()
