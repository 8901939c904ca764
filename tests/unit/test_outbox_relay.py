"""The outbox relay outlives a producer stuck in librdkafka and a broker that refuses it.

Kafka is faked here (the relay's transactions are pure logic around a producer): a
transaction's records reach the fake topic only on commit, and a producer opened with
the same transactional id fences the one before it, as Kafka does. The result store is
a real SQLite file.
"""

from __future__ import annotations

import asyncio
import threading
from pathlib import Path
from typing import Any

import pytest
from confluent_kafka import KafkaError, KafkaException, TopicPartition

from conveyor.config import Settings, load_settings
from conveyor.kafka.records import OutboxRecord
from conveyor.processors import outbox
from conveyor.processors.outbox import OutboxRelay
from conveyor.store import JobStore
from conveyor.store.results import append_outbox

SESSION_SECONDS = 0.5  # a relay's transaction is given up on after 1.5 of these


class FakeKafka:
    """What the relay's transactions left behind: committed records and progress."""

    def __init__(self) -> None:
        self.records: list[bytes] = []
        self.progress = TopicPartition("_conveyor-outbox", 0, -1001)
        self.producers: list[FakeProducer] = []
        self.refuse_next_open = False
        self.hang_next_offsets = threading.Event()  # set: the next send_offsets hangs
        self.release = threading.Event()
        self.hanging = False  # a send_offsets is hanging now


class FakeProducer:
    def __init__(self, kafka: FakeKafka) -> None:
        self.kafka = kafka
        self.pending: list[bytes] = []
        self.fenced = False

    def init_transactions(self, timeout: float) -> None:
        if self.kafka.refuse_next_open:
            self.kafka.refuse_next_open = False
            raise KafkaException(KafkaError(KafkaError._TRANSPORT, "broker down"))
        for earlier in self.kafka.producers:
            earlier.fenced = True
        self.kafka.producers.append(self)

    def begin_transaction(self) -> None:
        self.pending = []

    def produce(self, topic: str, value: bytes, **_: Any) -> None:
        self.pending.append(value)

    def send_offsets_to_transaction(self, offsets: list[TopicPartition], *_: Any) -> None:
        if self.kafka.hang_next_offsets.is_set():
            self.kafka.hang_next_offsets.clear()
            # librdkafka #5456: past its own timeout (for ever there; 10 s will do here)
            self.kafka.hanging = True
            self.kafka.release.wait(10)
            self.kafka.hanging = False
        self._check()
        self.offsets = offsets

    def commit_transaction(self, timeout: float) -> None:
        self._check()
        self.kafka.records += self.pending
        self.kafka.progress = self.offsets[0]

    def _check(self) -> None:
        if self.fenced:
            raise KafkaException(KafkaError(KafkaError._FENCED, "fenced by a newer producer"))


class FakeConsumer:
    def __init__(self, kafka: FakeKafka) -> None:
        self.kafka = kafka

    def committed(self, partitions: list[TopicPartition], timeout: float) -> list[TopicPartition]:
        return [self.kafka.progress]

    def consumer_group_metadata(self) -> object:
        return object()

    def close(self) -> None:
        pass


@pytest.fixture
def kafka(monkeypatch: pytest.MonkeyPatch) -> FakeKafka:
    fake = FakeKafka()
    monkeypatch.setattr(outbox, "Producer", lambda config: FakeProducer(fake))
    monkeypatch.setattr(outbox, "Consumer", lambda config: FakeConsumer(fake))
    return fake


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return load_settings(
        database_url=f"sqlite:///{tmp_path / 'store.db'}",
        workers={"session_timeout_seconds": SESSION_SECONDS, "heartbeat_seconds": 0.1},
    )


def _store_with(settings: Settings, values: list[bytes]) -> JobStore:
    store = JobStore(settings.database_url)
    store.create_schema()
    with store.engine.begin() as conn:
        append_outbox(conn, (OutboxRecord("out", b"k", v, []).row() for v in values))
    return store


def test_a_transaction_stuck_in_librdkafka_is_left_behind_and_the_next_producer_publishes_once(
    kafka: FakeKafka, settings: Settings
) -> None:
    values = [f"v{n}".encode() for n in range(5)]
    relay = OutboxRelay(settings, _store_with(settings, values))
    kafka.hang_next_offsets.set()

    stuck = asyncio.run(relay.publish())
    left_hanging = kafka.hanging
    published = asyncio.run(relay.publish())
    kafka.release.set()  # the stuck call returns at last, to a fenced producer
    again = asyncio.run(relay.publish())
    relay.close()

    assert stuck == 0
    assert left_hanging  # given up on, not waited out
    assert published == 5
    assert again == 0
    assert kafka.records == values
    assert kafka.progress.offset == 5
    assert len(kafka.producers) == 2
    assert kafka.producers[0].fenced


def test_a_broker_refusing_the_relay_as_it_opens_costs_one_round_not_the_relay(
    kafka: FakeKafka, settings: Settings
) -> None:
    relay = OutboxRelay(settings, _store_with(settings, [b"a", b"b"]))
    kafka.refuse_next_open = True

    assert asyncio.run(relay.publish()) == 0
    assert asyncio.run(relay.publish()) == 2
    relay.close()
    assert kafka.records == [b"a", b"b"]


def test_an_outbox_at_rest_is_left_empty_by_the_relays_next_round(
    kafka: FakeKafka, settings: Settings
) -> None:
    store = _store_with(settings, [b"a"])
    relay = OutboxRelay(settings, store)
    assert asyncio.run(relay.publish()) == 1  # pruned: the first prune of the relay
    with store.engine.begin() as conn:
        append_outbox(conn, [OutboxRecord("out", b"k", b"b", []).row()])
    assert asyncio.run(relay.publish()) == 1  # within a second of the last prune: kept

    assert asyncio.run(relay.publish()) == 0  # nothing more to publish: pruned now
    relay.close()

    assert kafka.records == [b"a", b"b"]
    assert outbox_size(store) == 0


def outbox_size(store: JobStore) -> int:
    with store.engine.connect() as conn:
        return int(conn.exec_driver_sql("SELECT count(*) FROM outbox").scalar_one())
