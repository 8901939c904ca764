"""``conveyor bench``: throughput and latency beside raw baselines, in the same run."""

from __future__ import annotations

import json
import tempfile
from pathlib import Path

import click

from conveyor.bench.ingest import IngestPlan, bench_ingest
from conveyor.bench.report import ingest_table, machine
from conveyor.cli.options import note, settings
from conveyor.infra.kafka.properties import CONTROLLER_PORT_OFFSET
from conveyor.infra.processes import free_port_block
from conveyor.infra.stack import local_stack

__all__ = ["bench"]


@click.group()
def bench() -> None:
    """Benchmarks (a readable table; --json for one JSON object with every figure)."""


@bench.command()
@click.option("--events", type=click.IntRange(1_000), default=100_000, show_default=True)
@click.option("--batch-size", type=click.IntRange(1, 1_000), default=500, show_default=True)
@click.option(
    "--requests",
    "single_requests",
    type=click.IntRange(1_000),
    default=30_000,
    show_default=True,
    help="Single-event requests.",
)
@click.option("--concurrency", type=click.IntRange(1, 1_024), default=64, show_default=True)
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object instead.")
def ingest(
    events: int, batch_size: int, single_requests: int, concurrency: int, as_json: bool
) -> None:
    """API batch and single-event ingest beside the bare confluent-kafka producer."""
    plan = IngestPlan(events, batch_size, single_requests, concurrency)
    config = settings()
    with (
        tempfile.TemporaryDirectory(prefix="conveyor-bench-") as tmp,
        local_stack(
            config,
            Path(tmp),
            kafka_port=free_port_block(1, offset=CONTROLLER_PORT_OFFSET),
            registry_port=free_port_block(1),
        ) as running,
    ):
        figures = bench_ingest(running, plan, note)
    if as_json:
        click.echo(json.dumps({"machine": machine(), "ingest": figures}))
    else:
        click.echo(ingest_table(figures))
