"""A topic read as an analytics consumer reads it: ``read_committed``, values decoded
through the schema registry by confluent-kafka's own ``AvroDeserializer``.

Each record is a dict: ``key`` (text, or None), ``partition``, ``offset``, ``timestamp``
(UTC, or None), ``headers`` (name → bytes), ``value`` (decoded, or the raw bytes with
``decode=False``). A value that does not decode is None, with ``error`` saying why and
``raw`` holding its bytes: one bad record does not stop a reader.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Collection, Mapping
from contextlib import ExitStack
from datetime import UTC, datetime
from types import TracebackType
from typing import Any, Self

from confluent_kafka import (
    OFFSET_BEGINNING,
    TIMESTAMP_NOT_AVAILABLE,
    Consumer,
    KafkaError,
    KafkaException,
    Message,
    TopicPartition,
)
from confluent_kafka.schema_registry.avro import AvroDeserializer

# The HTTP library the registry client picked at import (httpx2 where installed, else
# httpx): its transport errors mean the registry is unreachable, not a bad record.
from confluent_kafka.schema_registry.common._httpx_compat import httpx as registry_http
from confluent_kafka.schema_registry.error import SchemaRegistryError
from confluent_kafka.serialization import MessageField, SerializationContext

from conveyor.config import Settings
from conveyor.monitoring.exceptions import ReadError, UnknownTopicError
from conveyor.schemas import registry_client

__all__ = ["TopicReader", "read_records"]

log = logging.getLogger(__name__)

# Given what was read so far and the seconds since the last new record: enough?
Done = Callable[[list[dict[str, Any]], float], bool]

_TIMEOUT = 10.0


class TopicReader:
    """Reads one topic, or some of its partitions, from the start, from now on, or from
    given offsets (``start``).

    Entering finds the topic's partitions and where each ends now; :attr:`at_end` says
    when every partition got there. With ``until_end`` records past that end are left
    unread, so a reader that does not follow the topic stops at a fixed point. Nothing is
    committed: partitions are assigned, not subscribed.
    """

    def __init__(
        self,
        settings: Settings,
        topic: str,
        *,
        from_beginning: bool = True,
        partitions: Collection[int] | None = None,
        decode: bool = True,
        until_end: bool = False,
        start: Mapping[int, int] | None = None,
    ) -> None:
        self._settings = settings
        self._topic = topic
        self._from_beginning = from_beginning
        self._wanted = partitions
        self._decode = decode
        self._until_end = until_end
        self._start = start or {}  # partition → the offset to read it from, overriding the rest
        self._stack = ExitStack()
        # Partition → the offset it ended at on entering; the partitions not there yet.
        self._ends: dict[int, int] = {}
        self._pending: set[int] = set()

    @property
    def partitions(self) -> list[int]:
        """The partitions read (known once entered)."""
        return sorted(self._ends)

    @property
    def ends(self) -> dict[int, int]:
        """Where each partition read ended on entering: the offset of its next record."""
        return dict(self._ends)

    @property
    def at_end(self) -> bool:
        """Whether every partition read has reached where it ended on entering."""
        return not self._pending

    def __enter__(self) -> Self:
        try:
            self._consumer = Consumer(
                {
                    **self._settings.kafka.librdkafka_config(),
                    "group.id": "conveyor-reader",  # never committed: assigned, not subscribed
                    "isolation.level": "read_committed",
                    "enable.auto.commit": "false",
                    # An end-of-partition event: under read_committed the end is the last
                    # stable offset, which may lie before the high watermark.
                    "enable.partition.eof": "true",
                }
            )
            self._stack.callback(self._consumer.close)
            if self._decode:
                registry = self._stack.enter_context(
                    registry_client(self._settings.schema_registry)
                )
                self._deserialize = AvroDeserializer(registry)
                self._context = SerializationContext(self._topic, MessageField.VALUE)
            self._assign()
        except BaseException:
            self._stack.close()
            raise
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._stack.close()

    def poll(self, timeout: float) -> list[dict[str, Any]]:
        """The records that arrive within ``timeout`` seconds (perhaps none)."""
        records = []
        for msg in self._consumer.consume(500, timeout=timeout):
            error, partition, offset = msg.error(), msg.partition(), msg.offset()
            if partition is None or offset is None:  # set on every record and partition event
                continue
            if error is not None:
                if error.code() == KafkaError._PARTITION_EOF:
                    self._pending.discard(partition)
                elif error.fatal():
                    raise ReadError(f"cannot read {self._topic}: {error.str()}", self._topic)
                else:
                    log.warning("read error topic=%s error=%s", self._topic, error.str())
                continue
            # At or past the end: past it when the last records before it were aborted
            # transactions, which a read_committed consumer never sees.
            if offset + 1 >= self._ends[partition]:
                self._pending.discard(partition)
            if self._until_end and offset >= self._ends[partition]:
                continue
            records.append(self._record(msg))
        return records

    def _assign(self) -> None:
        topic = self._topic
        try:
            metadata = self._consumer.list_topics(topic, timeout=_TIMEOUT).topics.get(topic)
        except KafkaException as exc:
            raise ReadError(f"cannot look up {topic}: {exc.args[0].str()}", topic) from exc
        if metadata is None or (
            metadata.error is not None and metadata.error.code() == KafkaError.UNKNOWN_TOPIC_OR_PART
        ):
            raise UnknownTopicError([topic])
        available = sorted(metadata.partitions)
        chosen = available if self._wanted is None else sorted(self._wanted)
        missing = set(chosen) - set(available)
        if missing:
            raise ReadError(
                f"topic {topic!r} has partitions 0 to {len(available) - 1}, "
                f"not {', '.join(map(str, sorted(missing)))}",
                topic,
            )
        assignment = []
        for partition in chosen:
            try:
                low, high = self._consumer.get_watermark_offsets(
                    TopicPartition(topic, partition), timeout=_TIMEOUT
                )
            except KafkaException as exc:
                raise ReadError(
                    f"cannot find the end of {topic}[{partition}]: {exc.args[0].str()}", topic
                ) from exc
            self._ends[partition] = high
            if self._from_beginning and low < high:
                self._pending.add(partition)
            # From the end as it is now, not as it is when the fetcher starts, so a record
            # written right after entering is read.
            start = OFFSET_BEGINNING if self._from_beginning else high
            assignment.append(TopicPartition(topic, partition, self._start.get(partition, start)))
        self._consumer.assign(assignment)

    def _record(self, msg: Message) -> dict[str, Any]:
        key = msg.key()
        kind, stamp = msg.timestamp()
        record: dict[str, Any] = {
            "key": None if key is None else bytes(key).decode(errors="replace"),
            "partition": msg.partition(),
            "offset": msg.offset(),
            "timestamp": None
            if kind == TIMESTAMP_NOT_AVAILABLE
            else datetime.fromtimestamp(stamp / 1000, UTC),
            "headers": dict(msg.headers() or []),
            "value": msg.value(),
        }
        if self._decode:
            try:
                record["value"] = self._deserialize(msg.value(), self._context)
            except registry_http.TransportError as exc:
                raise self._registry_down(exc) from exc
            except SchemaRegistryError as exc:
                if exc.http_status_code >= 500 or exc.http_status_code < 0:
                    raise self._registry_down(exc) from exc
                record.update(value=None, error=str(exc), raw=msg.value())
            # Bytes that are not what they claim fail in many ways (the serde's own errors,
            # fastavro's EOFError, ValueError, IndexError ...): each is this record's fault.
            except Exception as exc:
                record.update(value=None, error=f"{type(exc).__name__}: {exc}", raw=msg.value())
        return record

    def _registry_down(self, exc: Exception) -> ReadError:
        """The registry itself failing is no fault of the record: stop, do not mark it."""
        url = self._settings.schema_registry.url
        return ReadError(f"cannot decode {self._topic}: schema registry {url}: {exc}", self._topic)


def read_records(
    settings: Settings, topic: str, done: Done, decode: bool = True, timeout: float = 30.0
) -> list[dict[str, Any]]:
    """Every partition of ``topic`` from the start until ``done(records, quiet_seconds)``
    or ``timeout``."""
    records: list[dict[str, Any]] = []
    with TopicReader(settings, topic, decode=decode) as reader:
        deadline = time.monotonic() + timeout
        last_new = time.monotonic()
        while not done(records, time.monotonic() - last_new) and time.monotonic() <= deadline:
            batch = reader.poll(0.2)
            if batch:
                last_new = time.monotonic()
                records += batch
    return records
