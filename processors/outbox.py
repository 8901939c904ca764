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

The same fencing lets a relay give up on a producer stuck in librdkafka: a transaction
whose coordinator died mid-way can wait in ``send_offsets_to_transaction`` for ever, past
its timeout (librdkafka #5456, #5511, open). The relay leaves such a producer to its
thread and opens a new one, whose ``init_transactions`` fences the old and aborts its
transaction: whatever the old one does later cannot commit. And ``publish`` never
raises: a broker or store outage only means nothing was published this round, and the
relay starts afresh on the next.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
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

T = TypeVar("T")


class OutboxRelay:
    """Blocking; the worker calls :meth:`publish` from a thread, on the leader only."""

    def __init__(self, settings: Settings, store: JobStore, batch: int = 5_000) -> None:
        self._settings = settings
        self._store = store
        self._batch = batch
        self._producer: Producer | None = None
        self._consumer: Consumer | None = None
        self._published = 0
        self._store_id = ""

    @property
    def group_id(self) -> str:
        return f"{self._settings.workers.group_id}.outbox"

    @property
    def _transaction_timeout(self) -> float:
        return self._settings.workers.session_timeout_seconds * 3

    @property
    def _stuck_after(self) -> float:
        # A transaction takes about a second; one still running after half its timeout is
        # stuck, or so slow that running it again on a new producer costs less than waiting.
        return self._transaction_timeout / 2

    def publish(self) -> int:
        """Publish the next records, if any, in one transaction; returns how many (0 also
        when Kafka or the store failed this round: the relay starts afresh on the next)."""
        try:
            return self._publish()
        except (KafkaException, SQLAlchemyError) as exc:
            log.warning("outbox relay starting afresh error=%r", exc)
            self.close()
            return 0

    def _publish(self) -> int:
        if self._producer is None:
            self._open()
        assert self._producer is not None
        assert self._consumer is not None
        with self._store.engine.connect() as conn:
            rows = outbox_after(conn, self._published, self._batch)
        if not rows:
            return 0
        producer, consumer = self._producer, self._consumer
        try:
            _within(self._stuck_after, lambda: self._transact(producer, consumer, rows))
        except KafkaException as exc:
            self._recover(exc)
            return 0
        except TimeoutError:
            log.error(
                "outbox transaction stuck in librdkafka for %.0fs; leaving its producer, "
                "which the next one fences group=%s first_seq=%d",
                self._stuck_after,
                self.group_id,
                rows[0].seq,
            )
            self._producer = None
            self.close()
            return 0
        self._published = rows[-1].seq
        with self._store.engine.begin() as conn:
            prune_outbox(conn, self._published)
        return len(rows)

    def close(self) -> None:
        if self._consumer is not None:
            self._consumer.close()
        self._producer = self._consumer = None

    def _transact(self, producer: Producer, consumer: Consumer, rows: list[OutboxRow]) -> None:
        """One transaction: the rows, and "published up to the last of them" as an offset.
        Runs on a thread of its own (see :func:`_within`) and touches no relay state."""
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
                    "transactional.id": self.group_id,
                    "transaction.timeout.ms": str(int(self._transaction_timeout * 1000)),
                },
            )
        )
        # Fences any earlier relay of this group and aborts its open transaction, so the
        # offset read next is final.
        producer.init_transactions(_TIMEOUT)
        consumer = Consumer(
            {
                **self._settings.kafka.librdkafka_config(),
                "group.id": self.group_id,
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
                self.group_id,
                self._published,
                committed.metadata,
                self._store_id,
            )
            self._published = 0
        self._producer, self._consumer = producer, consumer
        log.info("outbox relay ready group=%s published_seq=%d", self.group_id, self._published)

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
        # Fenced (another relay took over) or fatal: start afresh on the next call, and
        # read the committed progress again.
        log.warning("outbox relay restarting error=%s", error.str())
        self.close()


def _within(seconds: float, work: Callable[[], T]) -> T:
    """``work()``, or :class:`TimeoutError` if it has not returned after ``seconds``.

    It runs on a daemon thread, which is left behind if it never returns: a call stuck in
    a C library cannot be interrupted, and must not keep the worker from exiting either.
    """
    outcome: list[T] = []
    failure: list[BaseException] = []

    def run() -> None:
        try:
            outcome.append(work())
        except BaseException as exc:
            failure.append(exc)

    thread = threading.Thread(target=run, name="outbox-transaction", daemon=True)
    thread.start()
    thread.join(seconds)
    if thread.is_alive():
        raise TimeoutError(f"still running after {seconds:.0f}s")
    if failure:
        raise failure[0]
    return outcome[0]
