"""``conveyor demo``: the local stack, sample traffic and what came of it."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import click
from confluent_kafka import Consumer, Producer, TopicPartition
from confluent_kafka.schema_registry import SchemaRegistryClient
from confluent_kafka.schema_registry.avro import AvroDeserializer, AvroSerializer
from confluent_kafka.serialization import MessageField, SerializationContext

from conveyor.cli.options import data_dir_option, echo_env, note, settings
from conveyor.cli.signals import interrupt_on_sigterm, wait_for_interrupt
from conveyor.cli.up import nodes_option
from conveyor.config import Settings, StreamDeclaration
from conveyor.infra.stack import local_stack, stack_env
from conveyor.producers.config import producer_config
from conveyor.producers.samples import sample_orders
from conveyor.producers.topics import ensure_topics
from conveyor.schemas import registry_client

__all__ = ["demo"]


@click.command()
@nodes_option
@data_dir_option
@click.option("--keep", is_flag=True, help="Keep the stack up afterwards, until Ctrl-C.")
def demo(nodes: str, data_dir: Path | None, keep: bool) -> None:
    """Bring the stack up, send sample orders through the registry and show them."""
    interrupt_on_sigterm()
    config = settings()
    with local_stack(config, data_dir or config.data_dir, int(nodes)) as running:
        echo_env(stack_env(running))
        stream = running.streams["orders"]
        ensure_topics(running.kafka, [stream])
        orders = sample_orders(5, datetime.now(UTC), seed=uuid.uuid4().int)
        note(
            f"sending {len(orders)} orders as Avro to topic {stream.topic!r} and reading them back"
        )
        for record in _round_trip(running, stream, orders):
            click.echo(json.dumps(record, default=str))
        if keep:
            note("the stack stays up; Ctrl-C stops it")
            wait_for_interrupt()


def _round_trip(
    config: Settings, stream: StreamDeclaration, records: list[dict[str, Any]]
) -> list[dict[str, Any]]:
    """Produce ``records`` keyed by the stream's key, then read exactly those back."""
    with registry_client(config.schema_registry) as registry:
        return _produce_and_read_back(config, stream, records, registry)


def _produce_and_read_back(
    config: Settings,
    stream: StreamDeclaration,
    records: list[dict[str, Any]],
    registry: SchemaRegistryClient,
) -> list[dict[str, Any]]:
    serialize = AvroSerializer(registry, stream.schema_path.read_text())
    deserialize = AvroDeserializer(registry)
    context = SerializationContext(stream.topic, MessageField.VALUE)
    producer = Producer(producer_config(config.kafka))
    landed: dict[int, int] = {}  # partition -> first offset written by this run

    def _delivered(err: Any, msg: Any) -> None:
        if err is None:
            landed.setdefault(msg.partition(), msg.offset())

    for record in records:
        producer.produce(
            stream.topic,
            key=record[stream.key].encode(),
            value=serialize(record, context),
            on_delivery=_delivered,
        )
    producer.flush(30)
    consumer = Consumer(
        {
            **config.kafka.librdkafka_config(),
            "group.id": f"conveyor-demo-{uuid.uuid4()}",
            "isolation.level": "read_committed",
            "enable.auto.commit": "false",
        }
    )
    consumer.assign([TopicPartition(stream.topic, p, o) for p, o in landed.items()])
    wanted = {r["event_id"] for r in records}
    out = []
    try:
        while wanted:
            msg = consumer.poll(10)
            if msg is None:
                break
            if msg.error():
                continue
            value = deserialize(msg.value(), context)
            if value["event_id"] in wanted:
                wanted.discard(value["event_id"])
                out.append({"partition": msg.partition(), "offset": msg.offset(), **value})
    finally:
        consumer.close()
    return out
