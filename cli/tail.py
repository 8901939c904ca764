"""``conveyor tail TOPIC``: a topic's records as JSON lines, values decoded through the
schema registry, read as analytics consumers read them (``read_committed``).

stdout carries only the JSON lines, one record each, so the output pipes into ``jq``,
``head`` or a file; notes go to stderr.
"""

from __future__ import annotations

import base64
import json
import os
import sys
from collections.abc import Iterator
from datetime import date, datetime, time
from decimal import Decimal
from itertools import islice
from typing import Any
from uuid import UUID

import click

from conveyor.cli.options import note, settings
from conveyor.cli.signals import interrupt_on_sigterm
from conveyor.monitoring.topic_reader import TopicReader

__all__ = ["tail"]

# How long one poll waits for records: short enough to notice the end and Ctrl-C soon.
_POLL_SECONDS = 0.5


@click.command()
@click.argument("topic")
@click.option(
    "--from-beginning", is_flag=True, help="Start at the oldest record kept (default: new ones)."
)
@click.option("--max", "most", type=click.IntRange(min=1), help="Stop after N records.")
@click.option(
    "--follow", is_flag=True, help="Wait for new records until Ctrl-C (default: stop at the end)."
)
@click.option("--key", help="Only the records with this key.")
@click.option("--partition", type=click.IntRange(min=0), help="Only this partition.")
@click.option("--headers", "with_headers", is_flag=True, help="Show each record's headers.")
def tail(
    *,
    topic: str,
    from_beginning: bool,
    most: int | None,
    follow: bool,
    key: str | None,
    partition: int | None,
    with_headers: bool,
) -> None:
    """Print TOPIC's records as JSON lines: key, partition, offset, timestamp, value (and
    headers); a value that does not decode comes with an error field instead."""
    interrupt_on_sigterm()
    printed = 0
    reader = TopicReader(
        settings(),
        topic,
        from_beginning=from_beginning,
        partitions=None if partition is None else [partition],
        until_end=not follow,
    )
    try:
        with reader:
            start = "the beginning" if from_beginning else "the end"
            stop = "Ctrl-C stops" if follow else "stopping at the end"
            note(f"reading {topic} {_partitions(reader.partitions)} from {start}; {stop}")
            for record in islice(_matching(reader, follow, key), most):
                click.echo(json.dumps(_line(record, with_headers), default=_json_value))
                printed += 1
    except KeyboardInterrupt:
        pass
    except BrokenPipeError:
        # Whoever read stdout has gone (`| head`): stop quietly, as tail(1) does, and point
        # stdout at /dev/null so the interpreter's last flush does not complain.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
    note(f"{printed} records")


def _matching(reader: TopicReader, follow: bool, key: str | None) -> Iterator[dict[str, Any]]:
    while follow or not reader.at_end:
        for record in reader.poll(_POLL_SECONDS):
            if key is None or record["key"] == key:
                yield record


def _partitions(partitions: list[int]) -> str:
    if len(partitions) == 1:
        return f"partition {partitions[0]}"
    return f"({len(partitions)} partitions)"


def _line(record: dict[str, Any], with_headers: bool) -> dict[str, Any]:
    stamp = record["timestamp"]
    line = {
        "key": record["key"],
        "partition": record["partition"],
        "offset": record["offset"],
        "timestamp": None if stamp is None else stamp.isoformat(timespec="milliseconds"),
        "value": record["value"],
    }
    if "error" in record:
        line["error"] = record["error"]
        line["raw"] = record["raw"]
    if with_headers:
        line["headers"] = {
            name: None if value is None else bytes(value).decode(errors="replace")
            for name, value in record["headers"].items()
        }
    return line


def _json_value(value: Any) -> Any:
    """What Avro decodes to that JSON lacks: times as ISO 8601 (as the API takes them),
    decimals as exact strings, bytes as base64."""
    if isinstance(value, datetime | date | time):
        return value.isoformat()
    if isinstance(value, Decimal | UUID):
        return str(value)
    if isinstance(value, bytes):
        return base64.b64encode(value).decode()
    raise TypeError(f"{type(value).__name__} is not JSON serializable")
