"""``conveyor lag``: consumer lag per group, topic and partition; once, watched, plotted,
or as JSON."""

from __future__ import annotations

import json
import logging
import sys
from collections.abc import Callable
from functools import partial
from pathlib import Path

import click

from conveyor.cli.options import note, settings
from conveyor.cli.signals import interrupt_on_sigterm
from conveyor.common.text_table import format_table
from conveyor.kafka.admin import admin_client
from conveyor.kafka.exceptions import KafkaQueryError
from conveyor.monitoring.lag_report import TABLE_ALIGN, group_heading, snapshot_json, table_rows
from conveyor.monitoring.lag_series import LagSeries
from conveyor.monitoring.sampling import every
from conveyor.monitoring.snapshot import LagSnapshot, take_snapshot

__all__ = ["lag"]

log = logging.getLogger(__name__)

# As `watch` does: often enough to follow a backlog draining, rare enough to read.
DEFAULT_INTERVAL = 2.0

_seconds = click.FloatRange(min=0, min_open=True)


@click.command()
@click.option(
    "--group",
    "-g",
    "groups",
    multiple=True,
    metavar="GROUP",
    help="A consumer group (repeatable). Default: the workers' group from the settings.",
)
@click.option(
    "--topic",
    "-t",
    "topics",
    multiple=True,
    metavar="TOPIC",
    help="A topic (repeatable). Default: every declared stream's input and retry topics.",
)
@click.option(
    "--watch",
    type=_seconds,
    is_flag=False,
    flag_value=DEFAULT_INTERVAL,
    default=None,
    metavar="[SECONDS]",
    help=f"Measure again every SECONDS ({DEFAULT_INTERVAL:g} if not given) until Ctrl-C.",
)
@click.option(
    "--plot",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    metavar="FILE.png",
    help="Sample lag over time (every --watch SECONDS) and draw it into this PNG.",
)
@click.option(
    "--duration",
    type=_seconds,
    default=None,
    metavar="SECONDS",
    help="Stop sampling after this many seconds (default: at Ctrl-C).",
)
@click.option("--per-partition", is_flag=True, help="In the plot, a line per partition too.")
@click.option("--json", "as_json", is_flag=True, help="One JSON object per sample, on one line.")
@click.option(
    "--timeout",
    type=_seconds,
    default=10.0,
    show_default=True,
    metavar="SECONDS",
    help="Seconds to wait for Kafka's answers before giving up.",
)
def lag(
    *,
    groups: tuple[str, ...],
    topics: tuple[str, ...],
    watch: float | None,
    plot: Path | None,
    duration: float | None,
    per_partition: bool,
    as_json: bool,
    timeout: float,
) -> None:
    """Consumer lag: committed offset, end offset, lag and owner of every partition.

    A group that never committed counts its lag from the start of each partition.
    """
    if plot is not None and plot.suffix.lower() != ".png":
        raise click.BadParameter("the plot is a PNG: name a .png file", param_hint="--plot")
    if plot is not None and not plot.resolve().parent.is_dir():
        raise click.BadParameter(f"no directory {plot.resolve().parent}", param_hint="--plot")
    config = settings()
    chosen_groups = list(groups) or [config.workers.group_id]
    chosen_topics = list(topics) or [
        topic for stream in config.streams.values() for topic in stream.consumed_topics
    ]
    # librdkafka's own log lines go through logging, not straight to stderr, so an
    # unreachable broker ends in one line rather than a connection error every 50 ms.
    admin = admin_client(config.kafka, logger=log)
    measure = partial(take_snapshot, admin, chosen_groups, chosen_topics, timeout)
    try:
        if watch is None and plot is None and duration is None:
            _show(measure(), as_json, heading=None)
            return
        _sample(
            measure,
            interval=watch or DEFAULT_INTERVAL,
            duration=duration,
            plot=plot,
            per_partition=per_partition,
            as_json=as_json,
        )
    except KafkaQueryError as exc:
        raise exc.at(config.kafka.bootstrap_servers) from exc


def _sample(
    measure: Callable[[], LagSnapshot],
    *,
    interval: float,
    duration: float | None,
    plot: Path | None,
    per_partition: bool,
    as_json: bool,
) -> None:
    """Measure on a beat until ``duration`` or Ctrl-C; the plot is drawn from whatever was
    gathered, even if Kafka stops answering midway."""
    interrupt_on_sigterm()
    series = LagSeries()
    redraw = sys.stdout.isatty()
    heading = f"every {interval:g}s " + (f"for {duration:g}s" if duration else "until Ctrl-C")
    try:
        for snapshot in every(interval, measure, duration):
            series.add(snapshot)
            if redraw and not as_json:
                click.clear()
            _show(snapshot, as_json, heading)
    except KeyboardInterrupt:
        note("stopped")
    finally:
        if plot is not None and series.samples:
            _draw(series, plot, per_partition)


def _draw(series: LagSeries, path: Path, per_partition: bool) -> None:
    # Imported here: matplotlib takes a good part of a second to load, which only
    # --plot should pay, not every `conveyor` command.
    from conveyor.monitoring.lag_plot import plot_lag  # noqa: PLC0415 - see above

    drawn = plot_lag(series, path, per_partition)
    note(f"wrote {path}: {drawn} samples")


def _show(snapshot: LagSnapshot, as_json: bool, heading: str | None) -> None:
    if as_json:
        click.echo(json.dumps(snapshot_json(snapshot)))
        return
    if heading is not None:
        click.echo(f"{snapshot.taken_at:%Y-%m-%d %H:%M:%S} UTC, {heading}\n")
    tables = [
        f"{group_heading(reading)}\n{format_table(table_rows(reading), TABLE_ALIGN)}"
        for reading in snapshot.groups
    ]
    click.echo("\n\n".join(tables) + "\n")
