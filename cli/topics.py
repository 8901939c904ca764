"""``conveyor topics apply``: create the topics the stream declarations call for."""

from __future__ import annotations

import click

from conveyor.cli.options import note, settings
from conveyor.producers.topics import ensure_topics

__all__ = ["topics"]


@click.group()
def topics() -> None:
    """Provision Kafka topics from config/streams.yaml."""


@topics.command()
def apply() -> None:
    """Create every declared stream's topic that does not exist yet."""
    config = settings()
    created = ensure_topics(config.kafka, config.streams.values())
    for stream in config.streams.values():
        state = "created" if stream.topic in created else "exists"
        click.echo(f"{stream.topic:<30} {stream.partitions:>3} partitions  {state}")
    note(f"{len(created)} created, {len(config.streams) - len(created)} already there")
