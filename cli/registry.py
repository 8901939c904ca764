"""``conveyor registry start|stop``: a Confluent-compatible schema registry without Docker."""

from __future__ import annotations

from pathlib import Path

import click

from conveyor.cli.options import data_dir_option, echo_env, note, settings, state_dir
from conveyor.infra.registry import APICURIO_VERSION, LocalRegistry

__all__ = ["registry"]


@click.group()
def registry() -> None:
    """Run Apicurio Registry (Confluent API) locally, storing schemas in Kafka."""


@registry.command()
@click.option("--port", type=int, default=8081, show_default=True)
@data_dir_option
def start(port: int, data_dir: Path | None) -> None:
    """Start the registry against KAFKA_BOOTSTRAP_SERVERS and wait until it answers."""
    config = settings()
    local = LocalRegistry(
        state_dir(config, data_dir, "registry"),
        config.cache_dir,
        config.kafka,
        port,
    )
    note(f"starting Apicurio Registry {APICURIO_VERSION} on Kafka {local.bootstrap_servers}")
    local.start()
    echo_env({"SCHEMA_REGISTRY_URL": local.url})


@registry.command()
@data_dir_option
def stop(data_dir: Path | None) -> None:
    """Stop the registry."""
    config = settings()
    LocalRegistry.recorded(state_dir(config, data_dir, "registry"), config.cache_dir).stop()
    note("stopped the schema registry")
