"""``conveyor up``: everything local in one command; Ctrl-C or SIGTERM stops it cleanly."""

from __future__ import annotations

import signal
import threading
from pathlib import Path
from types import FrameType

import click

from conveyor.cli.options import data_dir_option, echo_env, note, settings
from conveyor.infra.stack import local_stack, stack_env

__all__ = ["nodes_option", "up", "wait_for_stop"]

nodes_option = click.option(
    "--nodes",
    type=click.Choice(["1", "3"]),
    default="1",
    show_default=True,
    help="Kafka nodes to start when KAFKA_BOOTSTRAP_SERVERS is not set.",
)


def wait_for_stop() -> None:
    """Block until SIGINT or SIGTERM."""
    stopping = threading.Event()

    def _stop(signum: int, frame: FrameType | None) -> None:
        stopping.set()

    previous = {sig: signal.signal(sig, _stop) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        stopping.wait()
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


@click.command()
@nodes_option
@data_dir_option
def up(nodes: str, data_dir: Path | None) -> None:
    """Start the local stack and keep it up until Ctrl-C."""
    config = settings()
    with local_stack(config, data_dir or config.data_dir, int(nodes)) as running:
        echo_env(stack_env(running))
        note("conveyor is up; Ctrl-C stops it")
        wait_for_stop()
        note("stopping ...")
