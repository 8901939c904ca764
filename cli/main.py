"""The ``conveyor`` command group: logging set-up and error handling for every command.

Exit codes: 0 ok, 1 failure (a one-line message, no traceback), 2 usage error.
"""

from __future__ import annotations

from typing import Any

import click

from conveyor import __version__
from conveyor.cli.api import api
from conveyor.cli.bench import bench
from conveyor.cli.broker import broker
from conveyor.cli.demo import demo
from conveyor.cli.dlq import dlq
from conveyor.cli.lag import lag
from conveyor.cli.registry import registry
from conveyor.cli.replay import replay
from conveyor.cli.send import send
from conveyor.cli.tail import tail
from conveyor.cli.topics import topics
from conveyor.cli.up import up
from conveyor.cli.worker import worker
from conveyor.config import load_settings
from conveyor.config.exceptions import ConfigError
from conveyor.exceptions import ConveyorError
from conveyor.runtime.logs import LogFormat, configure_logging

__all__ = ["main"]


class _Group(click.Group):
    """Turns conveyor's own errors into click's one-line ``Error: ...`` and exit code 1."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except ConveyorError as exc:
            raise click.ClickException(str(exc)) from exc


@click.group(cls=_Group)
@click.option("-v", "--verbose", count=True, help="More log output (-v info, -vv debug).")
@click.option(
    "--log-format",
    type=click.Choice(["text", "json"]),
    default=None,
    help="Log lines as text or JSON objects (default: settings telemetry.log_format, text).",
)
@click.version_option(__version__, prog_name="conveyor")
def main(verbose: int, log_format: LogFormat | None) -> None:
    """conveyor: a Web-Queue-Worker system on Apache Kafka."""
    configure_logging(verbose, log_format or _configured_log_format())


def _configured_log_format() -> LogFormat:
    try:
        return load_settings().telemetry.log_format
    except ConfigError:
        return "text"  # the command reports the broken settings itself, in one line


main.add_command(broker)
main.add_command(api)
main.add_command(topics)
main.add_command(send)
main.add_command(tail)
main.add_command(bench)
main.add_command(registry)
main.add_command(up)
main.add_command(demo)
main.add_command(worker)
main.add_command(lag)
main.add_command(replay)
main.add_command(dlq)
