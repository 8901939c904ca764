"""A stream's dead letters, read back from ``<topic>.dlq`` with the story their headers tell.

Each dead letter is read as the worker would read it again (``event_from``): its
``event_id`` (from the value, else ``ce_id``, else where it first landed), its
original topic, partition and offset, and the attempts made. Values are decoded
through the registry where they can be; poison that is not Avro stays raw bytes.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from conveyor.config import Settings, StreamDeclaration
from conveyor.kafka.admin import admin_client
from conveyor.kafka.events import Consumed, Event, event_from, where
from conveyor.kafka.headers import (
    ERROR_MESSAGE,
    ERROR_TYPE,
    FIRST_FAILURE,
    LAST_FAILURE,
    header_text,
)
from conveyor.ops.ranges import PartitionRange, resolve_ranges
from conveyor.ops.scan import RangeReader, reader_config
from conveyor.schemas import registry_client
from conveyor.schemas.exceptions import DecodeError, SchemaError
from conveyor.schemas.serde import AvroDecoder

__all__ = ["DeadLetter", "read_dead_letters", "read_topic"]

log = logging.getLogger(__name__)

# Reads never commit; a group id is required all the same.
_READER_GROUP = "conveyor-dlq-reader"


@dataclass(frozen=True, slots=True)
class DeadLetter:
    """One record of a DLQ topic: where it is, when it landed, and the event it holds."""

    topic: str
    partition: int
    offset: int
    millis: int  # the record's timestamp: when it was dead-lettered, in Unix ms
    event: Event
    value: dict[str, Any] | None = field(default=None, compare=False)  # None: not decoded

    @property
    def where(self) -> str:
        return where(self.topic, self.partition, self.offset)

    @property
    def timestamp(self) -> datetime:
        return datetime.fromtimestamp(self.millis / 1000, UTC)

    @property
    def error_type(self) -> str:
        return header_text(self.event.headers, ERROR_TYPE) or "unknown"

    @property
    def error_message(self) -> str:
        return header_text(self.event.headers, ERROR_MESSAGE) or ""

    @property
    def first_failure(self) -> str | None:
        return header_text(self.event.headers, FIRST_FAILURE)

    @property
    def last_failure(self) -> str | None:
        return header_text(self.event.headers, LAST_FAILURE)


def read_dead_letters(
    settings: Settings,
    stream: StreamDeclaration,
    *,
    since: datetime | None = None,
    until: datetime | None = None,
    decode: bool = True,
) -> list[DeadLetter]:
    """The dead letters of ``stream`` that landed from ``since`` until ``until``, in
    each DLQ partition's order; values decoded unless ``decode`` is False."""
    topic = stream.dlq_topic
    ranges = resolve_ranges(admin_client(settings.kafka), topic, since=since, until=until)
    decoder = _Decoder(settings, stream) if decode else None
    letters = []
    try:
        for consumed, millis in read_topic(settings, ranges):
            value = decoder.decode(consumed.value) if decoder else None
            letters.append(
                DeadLetter(
                    topic,
                    consumed.partition,
                    consumed.offset,
                    millis,
                    event_from(consumed, value),
                    value,
                )
            )
    finally:
        # A long-lived caller (the dashboard, in the API) would leak its connections.
        if decoder is not None:
            decoder.close()
    return letters


def read_topic(settings: Settings, ranges: list[PartitionRange]) -> Iterator[tuple[Consumed, int]]:
    """Every record of ``ranges``, with its timestamp (Unix ms)."""
    config = reader_config(settings.kafka.librdkafka_config(), _READER_GROUP)
    with RangeReader(config, ranges, batch=1_000) as reader:
        for batch in reader.batches():
            for msg in batch:
                _, millis = msg.timestamp()
                headers = msg.headers() or []
                consumed = Consumed(
                    msg.topic() or "",
                    msg.partition() or 0,
                    msg.offset() or 0,
                    msg.key(),
                    msg.value(),
                    list(headers.items()) if isinstance(headers, dict) else headers,
                )
                yield consumed, millis


class _Decoder:
    """The stream's values decoded where they can be: poison often is not Avro at all."""

    def __init__(self, settings: Settings, stream: StreamDeclaration) -> None:
        self._registry = registry_client(settings.schema_registry)
        self._decoder = AvroDecoder(stream.avro_schema, self._registry)
        self._warned = False

    def close(self) -> None:
        self._registry.close()

    def decode(self, value: bytes | None) -> dict[str, Any] | None:
        try:
            return self._decoder.decode(value)
        except DecodeError:
            return None
        except SchemaError as exc:
            if not self._warned:
                self._warned = True
                log.warning("dead letters shown raw: the registry did not answer: %s", exc)
            return None
