"""``conveyor send STREAM [FILE|-]``: JSON lines in, through the API, with progress."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import IO, Any

import click

from conveyor.cli.options import note, settings
from conveyor.cli.progress import progress
from conveyor.client.http import DEFAULT_BATCH, ConveyorClient
from conveyor.exceptions import ConveyorError

__all__ = ["send"]


class BadInputError(ConveyorError):
    """A line of the input is not a JSON object."""


@click.command()
@click.argument("stream")
@click.argument("source", type=click.File("r"), default="-")
@click.option(
    "--batch-size", type=click.IntRange(1, 10_000), default=DEFAULT_BATCH, show_default=True
)
@click.option("--receipts", is_flag=True, help="Print each event's receipt as a JSON line.")
def send(stream: str, source: IO[str], batch_size: int, receipts: bool) -> None:
    """Send the JSON objects of SOURCE (one per line; - for stdin) to STREAM."""
    config = settings()
    key = config.api_key.get_secret_value() if config.api_key else None
    with (
        ConveyorClient(config.api_url, api_key=key) as client,
        progress(_count_lines(source), f"sending to {stream}") as advance,
    ):
        for accepted in client.send(stream, _events(source), batch_size=batch_size):
            advance(len(accepted))
            if receipts:
                for receipt in accepted:
                    click.echo(json.dumps(receipt))
    stats = client.stats
    note(
        f"sent {stats.accepted} events to {stream} in {stats.requests} requests "
        f"({stats.retries} retried)"
    )


def _count_lines(source: IO[str]) -> int | None:
    """Lines in a seekable file (for the progress bar's length); None for a pipe."""
    if not source.seekable():
        return None
    count = sum(1 for line in source if line.strip())
    source.seek(0)
    return count


def _events(source: IO[str]) -> Iterator[dict[str, Any]]:
    for number, line in enumerate(source, start=1):
        if not line.strip():
            continue
        try:
            event = json.loads(line)
        except json.JSONDecodeError as exc:
            raise BadInputError(f"line {number}: not JSON ({exc.msg})") from None
        if not isinstance(event, dict):
            raise BadInputError(f"line {number}: expected a JSON object")
        yield event
