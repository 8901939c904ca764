"""Any valid record of every declared schema survives Avro: encoded, decoded, the same.

Every stream of ``config/streams.yaml`` and every output it declares: conveyor's encoder
writes the Confluent wire format against the schema as registered, and both conveyor's
decoder (what the workers use) and confluent-kafka's own ``AvroDeserializer`` (what
analytics consumers use) read back the record that went in. For the streams, the JSON a
client posts, validated as the API validates it, is that same record too.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from confluent_kafka.schema_registry import Schema, SchemaRegistryClient
from confluent_kafka.schema_registry.avro import AvroDeserializer
from confluent_kafka.serialization import MessageField, SerializationContext
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from conveyor.api.body import EventReader
from conveyor.client.samples import json_ready
from conveyor.config import Settings, load_streams
from conveyor.schemas import registry_client
from conveyor.schemas.models import EVENT_ID_FIELD, event_type
from conveyor.schemas.serde import AvroDecoder, AvroEncoder
from support.avro_records import avro_records
from support.stack import unique

STREAMS = load_streams()
# (name, Avro schema) of every stream and every output it declares.
DECLARED = [(name, stream.avro_schema) for name, stream in STREAMS.items()] + [
    (f"{name}.{out}", output.avro_schema)
    for name, stream in STREAMS.items()
    for out, output in stream.outputs.items()
]
# The ids the API takes (and the worker keys every effect on): printable ASCII.
EVENT_IDS = st.text(st.characters(min_codepoint=0x21, max_codepoint=0x7E), min_size=1, max_size=128)
FUZZ = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@dataclass
class Codec:
    encoder: AvroEncoder
    decoder: AvroDecoder
    deserializer: AvroDeserializer
    context: SerializationContext


@pytest.fixture(scope="module")
def registry(settings: Settings) -> Iterator[SchemaRegistryClient]:
    with registry_client(settings.schema_registry) as client:
        yield client


def _codec(registry: SchemaRegistryClient, schema: dict[str, Any]) -> Codec:
    topic = unique("serde")
    schema_id = registry.register_schema(f"{topic}-value", Schema(json.dumps(schema), "AVRO"))
    return Codec(
        AvroEncoder(schema, schema_id),
        AvroDecoder(schema, registry),
        AvroDeserializer(registry),
        SerializationContext(topic, MessageField.VALUE),
    )


@pytest.mark.parametrize(("name", "schema"), DECLARED, ids=[name for name, _ in DECLARED])
def test_any_valid_record_comes_back_the_same_through_avro(
    registry: SchemaRegistryClient, name: str, schema: dict[str, Any]
) -> None:
    codec = _codec(registry, schema)

    @FUZZ
    @given(record=avro_records(schema))
    def round_trip(record: dict[str, Any]) -> None:
        wire = codec.encoder.encode(record)

        assert codec.decoder.decode(wire) == record
        assert codec.deserializer(wire, codec.context) == record

    round_trip()


@pytest.mark.parametrize("name", list(STREAMS))
def test_any_valid_event_posted_as_json_is_the_record_the_worker_decodes(
    registry: SchemaRegistryClient, name: str
) -> None:
    stream = STREAMS[name]
    codec = _codec(registry, stream.avro_schema)
    reader = EventReader(event_type(stream), max_items=1)

    @FUZZ
    @given(record=avro_records(stream.avro_schema), event_id=EVENT_IDS)
    def round_trip(record: dict[str, Any], event_id: str) -> None:
        record[EVENT_ID_FIELD] = event_id
        body = json.dumps(json_ready(record)).encode()

        (event,) = reader.read(body, "application/json").events

        assert event == record
        assert codec.decoder.decode(codec.encoder.encode(event)) == record

    round_trip()
