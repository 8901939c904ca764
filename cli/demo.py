"""``conveyor demo``: the local stack, sample traffic through the API, and what came of it."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import click
from confluent_kafka import Consumer, TopicPartition
from confluent_kafka.schema_registry.avro import AvroDeserializer
from confluent_kafka.serialization import MessageField, SerializationContext

from conveyor.cli.options import data_dir_option, echo_env, note, settings
from conveyor.cli.signals import interrupt_on_sigterm, wait_for_interrupt
from conveyor.cli.up import nodes_option, running_pipeline
from conveyor.config import Settings
from conveyor.producers.client import ConveyorClient
from conveyor.producers.samples import json_ready, sample_orders
from conveyor.schemas import registry_client

__all__ = ["demo"]


@click.command()
@nodes_option
@data_dir_option
@click.option("--orders", "count", type=click.IntRange(1, 100_000), default=5, show_default=True)
@click.option("--keep", is_flag=True, help="Keep the stack up afterwards, until Ctrl-C.")
def demo(nodes: str, data_dir: Path | None, count: int, keep: bool) -> None:
    """Bring the stack up, post sample orders to the API, and show where each one went."""
    interrupt_on_sigterm()
    config = settings()
    with running_pipeline(config, data_dir or config.data_dir, int(nodes)) as (running, env):
        echo_env(env)
        orders = [
            json_ready(o) for o in sample_orders(count, datetime.now(UTC), seed=uuid.uuid4().int)
        ]
        note(f"posting {len(orders)} orders to {running.api_url}/v1/streams/orders/events")
        with ConveyorClient(running.api_url) as client:
            receipts = [r for batch in client.send("orders", orders) for r in batch]
            statuses = {r["event_id"]: client.job(r["event_id"])["status"] for r in receipts}
        records = _read_back(running, receipts)
        click.echo(
            f"{'event_id':<38} {'partition':>9} {'offset':>6}  {'job':<8} "
            f"{'customer':<8} {'region':<6} {'amount':>9}"
        )
        for receipt in receipts:
            value = records[(receipt["partition"], receipt["offset"])]
            click.echo(
                f"{receipt['event_id']:<38} {receipt['partition']:>9} {receipt['offset']:>6}  "
                f"{statuses[receipt['event_id']]:<8} {value['customer_id']:<8} "
                f"{value['region']:<6} {value['amount_cents'] / 100:>9.2f}"
            )
        note(f"{len(records)} of {len(orders)} read back from Kafka as Avro via the registry")
        if keep:
            note("the stack stays up; Ctrl-C stops it")
            wait_for_interrupt()


def _read_back(
    config: Settings, receipts: list[dict[str, Any]]
) -> dict[tuple[int, int], dict[str, Any]]:
    """The records at the receipts' positions, decoded with confluent-kafka's own serde."""
    topic = receipts[0]["topic"]
    consumer = Consumer(
        {
            **config.kafka.librdkafka_config(),
            "group.id": "conveyor-demo",
            "isolation.level": "read_committed",
            "enable.auto.commit": "false",
        }
    )
    first: dict[int, int] = {}
    for receipt in receipts:
        first[receipt["partition"]] = min(
            first.get(receipt["partition"], receipt["offset"]), receipt["offset"]
        )
    consumer.assign([TopicPartition(topic, p, o) for p, o in first.items()])
    wanted = {(r["partition"], r["offset"]) for r in receipts}
    found: dict[tuple[int, int], dict[str, Any]] = {}
    context = SerializationContext(topic, MessageField.VALUE)
    try:
        with registry_client(config.schema_registry) as registry:
            deserialize = AvroDeserializer(registry)
            while len(found) < len(wanted):
                msg = consumer.poll(10)
                if msg is None:
                    break
                position = (msg.partition() or 0, msg.offset() or 0)
                if not msg.error() and position in wanted:
                    found[position] = deserialize(msg.value(), context)
    finally:
        consumer.close()
    return found
