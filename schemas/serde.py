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
from typing import Any

from confluent_kafka.schema_registry import Schema, SchemaRegistryClient
from fastavro import parse_schema, schemaless_writer

from conveyor.config import StreamDeclaration
from conveyor.schemas.exceptions import SchemaError

__all__ = ["AvroEncoder", "register_value_schema", "value_subject"]

_MAGIC = 0
_HEADER = struct.Struct(">bI")


def value_subject(topic: str) -> str:
    """The TopicNameStrategy subject of a topic's values."""
    return f"{topic}-value"


def register_value_schema(client: SchemaRegistryClient, stream: StreamDeclaration) -> int:
    """Register the stream's schema under its topic's value subject; returns the schema id.

    Registering an already-registered schema returns its id; an incompatible change is
    refused by the registry (409) and surfaces as :class:`SchemaError`.
    """
    try:
        return client.register_schema(
            value_subject(stream.topic), Schema(json.dumps(stream.avro_schema), "AVRO")
        )
    except Exception as exc:
        raise SchemaError(
            f"cannot register {stream.schema_file} as {value_subject(stream.topic)}: {exc}"
        ) from exc


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
