"""``conveyor up``: everything local in one command; Ctrl-C or SIGTERM stops it cleanly."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import click

from conveyor.cli.options import data_dir_option, echo_env, note, settings
from conveyor.cli.signals import interrupt_on_sigterm, wait_for_interrupt
from conveyor.config import Settings
from conveyor.infra.services import conveyor_service
from conveyor.infra.stack import local_stack, stack_env
from conveyor.producers.topics import ensure_topics

__all__ = ["nodes_option", "running_pipeline", "up"]

nodes_option = click.option(
    "--nodes",
    type=click.Choice(["1", "3"]),
    default="1",
    show_default=True,
    help="Kafka nodes to start when KAFKA_BOOTSTRAP_SERVERS is not set.",
)


@contextmanager
def running_pipeline(
    config: Settings, data_dir: Path, nodes: int
) -> Iterator[tuple[Settings, dict[str, str]]]:
    """Kafka, the registry, the topics and the API; yields settings pointing at them and
    the environment another shell would export to reach them."""
    with local_stack(config, data_dir, nodes) as running:
        ensure_topics(running.kafka, running.streams.values())
        api_url = f"http://{config.api.host}:{config.api.port}"
        env = {
            **stack_env(running),
            "CONVEYOR_API_URL": api_url,
            "CONVEYOR_DATABASE_URL": config.database_url
            if "database_url" in config.model_fields_set
            else f"sqlite:///{data_dir.resolve() / 'conveyor.db'}",
        }
        with conveyor_service(
            ["api"], {**os.environ, **env}, data_dir / "api.log", f"{api_url}/readyz"
        ):
            yield running.model_copy(update={"api_url": api_url}), env


@click.command()
@nodes_option
@data_dir_option
def up(nodes: str, data_dir: Path | None) -> None:
    """Start the local stack (Kafka, registry, topics, API) and keep it up until Ctrl-C."""
    interrupt_on_sigterm()
    config = settings()
    try:
        with running_pipeline(config, data_dir or config.data_dir, int(nodes)) as (_, env):
            echo_env(env)
            note("conveyor is up; Ctrl-C stops it")
            wait_for_interrupt()
            note("stopping ...")
    except KeyboardInterrupt:
        note("interrupted; stopped what had started")
