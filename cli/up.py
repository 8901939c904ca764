"""``conveyor up``: everything local in one command; Ctrl-C or SIGTERM stops it cleanly."""

from __future__ import annotations

from pathlib import Path

import click

from conveyor.cli.options import data_dir_option, echo_env, note, settings
from conveyor.cli.signals import interrupt_on_sigterm, wait_for_interrupt
from conveyor.infra.stack import local_stack, stack_env

__all__ = ["nodes_option", "up"]

nodes_option = click.option(
    "--nodes",
    type=click.Choice(["1", "3"]),
    default="1",
    show_default=True,
    help="Kafka nodes to start when KAFKA_BOOTSTRAP_SERVERS is not set.",
)


@click.command()
@nodes_option
@data_dir_option
def up(nodes: str, data_dir: Path | None) -> None:
    """Start the local stack and keep it up until Ctrl-C."""
    interrupt_on_sigterm()
    config = settings()
    try:
        with local_stack(config, data_dir or config.data_dir, int(nodes)) as running:
            echo_env(stack_env(running))
            note("conveyor is up; Ctrl-C stops it")
            wait_for_interrupt()
            note("stopping ...")
    except KeyboardInterrupt:
        note("interrupted; stopped what had started")
