"""The local schema registry, driven by confluent-kafka's own client and serde."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from confluent_kafka.schema_registry import Schema, SchemaRegistryClient
from confluent_kafka.schema_registry.avro import AvroDeserializer, AvroSerializer
from confluent_kafka.schema_registry.error import SchemaRegistryError
from confluent_kafka.serialization import MessageField, SerializationContext


def record(*fields: dict[str, Any]) -> Schema:
    schema = {
        "type": "record",
        "name": "Payment",
        "namespace": "test",
        "fields": [{"name": "id", "type": "string"}, *fields],
    }
    return Schema(json.dumps(schema), "AVRO")


@pytest.fixture
def client(registry_url: str) -> Iterator[SchemaRegistryClient]:
    with SchemaRegistryClient({"url": registry_url}) as client:
        yield client


def test_backward_compatibility_is_the_default(client: SchemaRegistryClient) -> None:
    assert client.get_compatibility() == "BACKWARD"


def test_compatible_versions_register_and_an_incompatible_one_is_refused_with_409(
    client: SchemaRegistryClient, unique: Callable[[str], str]
) -> None:
    subject = unique("payments") + "-value"

    v1 = client.register_schema(subject, record())
    v2 = client.register_schema(subject, record({"name": "note", "type": "string", "default": ""}))
    with pytest.raises(SchemaRegistryError) as refused:
        client.register_schema(subject, record({"name": "amount", "type": "long"}))

    assert v2 != v1
    assert client.register_schema(subject, record()) == v1  # same schema, same id
    assert client.get_versions(subject) == [1, 2]
    assert refused.value.http_status_code == 409
    assert not client.test_compatibility(subject, record({"name": "amount", "type": "long"}))


def test_avro_serializer_and_deserializer_round_trip_through_the_registry(
    client: SchemaRegistryClient, unique: Callable[[str], str]
) -> None:
    topic = unique("payments")
    schema = record(
        {"name": "cents", "type": "long"},
        {"name": "tags", "type": {"type": "array", "items": "string"}, "default": []},
    )
    serialize = AvroSerializer(client, schema.schema_str)
    deserialize = AvroDeserializer(client)
    context = SerializationContext(topic, MessageField.VALUE)
    value = {"id": "p-1", "cents": 1234, "tags": ["a", "b"]}

    wire = serialize(value, context)

    assert wire[0] == 0  # Confluent wire format: magic byte, then the schema id
    registered = client.get_latest_version(f"{topic}-value")
    assert int.from_bytes(wire[1:5], "big") == registered.schema_id
    assert deserialize(wire, context) == value
