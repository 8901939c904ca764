"""Avro in the Confluent wire format: magic byte 0, a 4-byte schema id, the Avro body.

Encoding is done here with fastavro against a schema registered once at start-up,
rather than through ``AvroSerializer`` per call: the bytes are the same (the
integration tests read them back with confluent-kafka's ``AvroDeserializer``), and
the hot path of the API does no registry look-up.
"""

from __future__ import annotations

import io
import json
import struct
from typing import Any, Protocol

from confluent_kafka.schema_registry import Schema, SchemaRegistryClient
from confluent_kafka.schema_registry.error import SchemaRegistryError
from fastavro import parse_schema, schemaless_reader, schemaless_writer

from conveyor.schemas.exceptions import DecodeError, SchemaError

__all__ = ["AvroDecoder", "AvroEncoder", "register_value_schema", "value_subject"]

_MAGIC = 0
_HEADER = struct.Struct(">bI")


def value_subject(topic: str) -> str:
    """The TopicNameStrategy subject of a topic's values."""
    return f"{topic}-value"


class _Declared(Protocol):
    """A stream or an output: a topic and the schema of its values."""

    @property
    def topic(self) -> str: ...
    @property
    def schema_file(self) -> str: ...
    @property
    def avro_schema(self) -> dict[str, Any]: ...


def register_value_schema(client: SchemaRegistryClient, declared: _Declared) -> int:
    """Register the schema under its topic's value subject; returns the schema id.

    Registering an already-registered schema returns its id; an incompatible change is
    refused by the registry (409) and surfaces as :class:`SchemaError`.
    """
    subject = value_subject(declared.topic)
    try:
        return client.register_schema(subject, Schema(json.dumps(declared.avro_schema), "AVRO"))
    except Exception as exc:
        raise SchemaError(f"cannot register {declared.schema_file} as {subject}: {exc}") from exc


class AvroEncoder:
    """Encodes records of one schema, already registered under ``schema_id``."""

    def __init__(self, schema: dict[str, Any], schema_id: int) -> None:
        self._schema = parse_schema(schema)
        self._header = _HEADER.pack(_MAGIC, schema_id)

    def encode(self, record: dict[str, Any]) -> bytes:
        out = io.BytesIO()
        out.write(self._header)
        schemaless_writer(out, self._schema, record)
        return out.getvalue()


class AvroDecoder:
    """Decodes values of one topic into records of ``schema``, whichever registered
    version wrote them: the writer's schema is fetched by its id (once) and Avro schema
    resolution fills what the writer did not know with the reader's defaults."""

    def __init__(self, schema: dict[str, Any], registry: SchemaRegistryClient) -> None:
        self._reader = parse_schema(schema)
        self._registry = registry
        self._writers: dict[int, tuple[Any, Any]] = {}

    def decode(self, value: bytes | None) -> dict[str, Any]:
        if value is None or len(value) < _HEADER.size or value[0] != _MAGIC:
            raise DecodeError("not in the Confluent wire format (magic byte 0, schema id, body)")
        _, schema_id = _HEADER.unpack_from(value)
        writer, reader = self._writer(schema_id)
        try:
            record = schemaless_reader(io.BytesIO(value[_HEADER.size :]), writer, reader)
        except Exception as exc:  # fastavro raises whatever the bytes provoke
            raise DecodeError(f"not an Avro value of schema id {schema_id}: {exc!r}") from exc
        if not isinstance(record, dict):
            raise DecodeError(f"schema id {schema_id} is not a record schema")
        return record

    def _writer(self, schema_id: int) -> tuple[Any, Any]:
        """The writer's schema and the reader's, or None when they are the same: schema
        resolution costs a third of the decoding, and most records need none."""
        found = self._writers.get(schema_id)
        if found is None:
            try:
                schema = self._registry.get_schema(schema_id)
            except SchemaRegistryError as exc:
                if exc.http_status_code == 404:
                    raise DecodeError(f"schema id {schema_id} is not in the registry") from exc
                # Anything else is the registry's trouble, not the record's: not poison.
                raise SchemaError(f"cannot fetch schema id {schema_id}: {exc}") from exc
            writer = parse_schema(json.loads(schema.schema_str or ""))
            found = self._writers[schema_id] = (
                writer,
                None if writer == self._reader else self._reader,
            )
        return found
