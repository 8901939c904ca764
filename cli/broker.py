"""``conveyor broker start|stop|status``: a local Kafka cluster without Docker."""

from __future__ import annotations

import json
import time
from dataclasses import asdict
from pathlib import Path

import click

from conveyor.cli.options import data_dir_option, echo_env, note, settings, state_dir
from conveyor.cli.signals import interrupt_on_sigterm
from conveyor.infra.kafka import LocalCluster, SaslUser, kafka_version

__all__ = ["broker"]


@click.group()
def broker() -> None:
    """Run Apache Kafka (KRaft) locally, from its Maven Central artifacts."""


@broker.command()
@click.option(
    "--nodes",
    type=click.Choice(["1", "3"]),
    default="1",
    show_default=True,
    help="One node, or a three-node quorum (RF 3, min ISR 2).",
)
@click.option(
    "--port",
    type=int,
    default=9092,
    show_default=True,
    help="Port of the first broker; the others take the next ones.",
)
@click.option(
    "--sasl",
    is_flag=True,
    help="Authenticate clients with SASL as the user of KAFKA_SASL_MECHANISM (PLAIN or "
    "SCRAM-SHA-256/512), KAFKA_SASL_USERNAME and KAFKA_SASL_PASSWORD, with "
    "KAFKA_SECURITY_PROTOCOL=SASL_PLAINTEXT.",
)
@data_dir_option
def start(nodes: str, port: int, sasl: bool, data_dir: Path | None) -> None:
    """Start the cluster and wait until every node is in its metadata; if it cannot, stop
    every node it started and say which port or log is at fault."""
    interrupt_on_sigterm()
    config = settings()
    user = SaslUser.from_settings(config.kafka) if sasl else None
    cluster = LocalCluster(
        state_dir(config, data_dir, "kafka"), config.cache_dir, int(nodes), port, sasl=user
    )
    login = f", SASL {user.mechanism} as {user.username}" if user is not None else ""
    note(f"starting Apache Kafka {kafka_version()} ({nodes} node(s){login}) in {cluster.data_dir}")
    began = time.monotonic()
    cluster.start()
    note(f"ready in {time.monotonic() - began:.1f}s; logs in {cluster.data_dir}/node-*/logs")
    echo_env({"KAFKA_BOOTSTRAP_SERVERS": cluster.bootstrap_servers})


@broker.command()
@data_dir_option
def stop(data_dir: Path | None) -> None:
    """Stop the cluster (SIGTERM, then SIGKILL after 30 s)."""
    config = settings()
    cluster = LocalCluster.recorded(state_dir(config, data_dir, "kafka"), config.cache_dir)
    killed = cluster.stop()
    note(f"stopped {len(cluster.nodes)} node(s)" + (f"; killed {killed}" if killed else ""))


@broker.command()
@click.option("--json", "as_json", is_flag=True, help="One JSON object per node.")
@data_dir_option
def status(as_json: bool, data_dir: Path | None) -> None:
    """Show each node; exit 1 unless every node is up and in the cluster."""
    config = settings()
    cluster = LocalCluster.recorded(
        state_dir(config, data_dir, "kafka"), config.cache_dir, SaslUser.of_clients(config.kafka)
    )
    nodes = cluster.status()
    if as_json:
        for node in nodes:
            click.echo(json.dumps(asdict(node)))
    else:
        click.echo(f"{'node':>4}  {'port':>5}  {'pid':>7}  {'process':<8}  cluster")
        for node in nodes:
            click.echo(
                f"{node.node_id:>4}  {node.port:>5}  {node.pid or '-':>7}  "
                f"{'running' if node.running else 'stopped':<8}  "
                f"{'in metadata' if node.in_metadata else '-'}"
            )
    if not all(n.running and n.in_metadata for n in nodes):
        raise SystemExit(1)
