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
"""

from __future__ import annotations

import logging

from confluent_kafka import Consumer, KafkaException, Producer, TopicPartition

from conveyor.config import Settings
from conveyor.processors.records import OutboxRecord
from conveyor.producers.config import producer_config
from conveyor.producers.topics import OUTBOX_TOPIC
from conveyor.store import JobStore
from conveyor.store.results import outbox_after, prune_outbox

__all__ = ["OutboxRelay"]

log = logging.getLogger(__name__)

_TIMEOUT = 30.0


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

    def publish(self) -> int:
        """Publish the next records, if any, in one transaction; returns how many."""
        if self._producer is None:
            self._open()
        assert self._producer is not None
        assert self._consumer is not None
        with self._store.engine.connect() as conn:
            rows = outbox_after(conn, self._published, self._batch)
        if not rows:
            return 0
        producer = self._producer
        try:
            producer.begin_transaction()
            for row in rows:
                self._produce(
                    producer,
                    row.topic,
                    row.key,
                    row.value,
                    OutboxRecord.headers_from_blob(row.headers),
                )
            producer.send_offsets_to_transaction(
                [TopicPartition(OUTBOX_TOPIC, 0, rows[-1].seq, metadata=self._store_id)],
                self._consumer.consumer_group_metadata(),
                _TIMEOUT,
            )
            producer.commit_transaction(_TIMEOUT)
        except KafkaException as exc:
            self._recover(exc)
            return 0
        self._published = rows[-1].seq
        with self._store.engine.begin() as conn:
            prune_outbox(conn, self._published)
        return len(rows)

    def close(self) -> None:
        if self._consumer is not None:
            self._consumer.close()
        self._producer = self._consumer = None

    def _open(self) -> None:
        workers = self._settings.workers
        producer = Producer(
            producer_config(
                self._settings.kafka,
                **{
                    "transactional.id": self.group_id,
                    "transaction.timeout.ms": str(int(workers.session_timeout_seconds * 3000)),
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
