"""``conveyor dlq list|show|redrive``: each stream's dead letters (``<topic>.dlq``)."""

from __future__ import annotations

import base64
from collections import Counter
from datetime import datetime
from typing import Any

import click

from conveyor.cli.options import echo_json, iso_time, json_option, json_text, settings
from conveyor.common.text_table import format_table
from conveyor.config import Settings, StreamDeclaration
from conveyor.kafka.events import where
from conveyor.ops.deadletters import DeadLetter, read_dead_letters
from conveyor.ops.redrive import (
    RedrivePlan,
    Selection,
    plan_redrive,
    read_ledger,
    redrive,
    was_redriven,
)
from conveyor.store import JobStore

__all__ = ["dlq"]


@click.group()
def dlq() -> None:
    """Dead letters per stream: count them, read them, send them back to their topic."""


@dlq.command("list")
@click.argument("streams", nargs=-1)
@json_option
def list_(streams: tuple[str, ...], as_json: bool) -> None:
    """Count the dead letters of STREAMS (default: every stream) by error type."""
    config = settings()
    counted = []
    for stream in [_stream(config, name) for name in streams] or config.streams.values():
        ledger = read_ledger(config, stream)
        letters = read_dead_letters(config, stream, decode=False)
        total = Counter(letter.error_type for letter in letters)
        redriven = Counter(d.error_type for d in letters if was_redriven(d, ledger))
        counted.append((stream, total, redriven))
    if as_json:
        echo_json(
            {
                "streams": [
                    {
                        "stream": stream.name,
                        "topic": stream.dlq_topic,
                        "dead_letters": total.total(),
                        "redriven": redriven.total(),
                        "errors": {
                            error: {"dead_letters": n, "redriven": redriven[error]}
                            for error, n in sorted(total.items())
                        },
                    }
                    for stream, total, redriven in counted
                ]
            }
        )
        return
    rows = [
        (stream.name, stream.dlq_topic, error, f"{n:,}", f"{redriven[error]:,}")
        for stream, total, redriven in counted
        for error, n in sorted(total.items())
    ]
    click.echo(
        format_table(
            [("stream", "topic", "error", "dead letters", "redriven"), *rows], align="lllrr"
        )
    )
    if not rows:
        click.echo("no dead letters")


@dlq.command()
@click.argument("stream")
@click.option("--max", "limit", type=click.IntRange(1), default=20, show_default=True)
@click.option("--error", "errors", multiple=True, metavar="TYPE", help="Only this error type.")
@json_option
def show(stream: str, limit: int, errors: tuple[str, ...], as_json: bool) -> None:
    """Print STREAM's dead letters in the order they landed, values decoded (raw if they
    are not Avro), with their error headers; --json prints one JSON object per line."""
    config = settings()
    declared = _stream(config, stream)
    ledger = read_ledger(config, declared)
    letters = sorted(
        read_dead_letters(config, declared), key=lambda d: (d.millis, d.partition, d.offset)
    )
    chosen = [d for d in letters if not errors or d.error_type in errors][:limit]
    for letter in chosen:
        shown = _letter(letter, was_redriven(letter, ledger))
        if as_json:
            echo_json(shown)
        else:
            _echo_letter(shown)
    if not as_json:
        click.echo(f"{len(chosen)} of {len(letters)} dead letters in {declared.dlq_topic}")


@dlq.command("redrive")
@click.argument("stream")
@click.option("--error", "errors", multiple=True, metavar="TYPE", help="Of this error type.")
@click.option("--since", type=iso_time, help="Dead-lettered at or after this time.")
@click.option("--until", type=iso_time, help="Dead-lettered before this time.")
@click.option("--event-id", "event_ids", multiple=True, metavar="ID", help="This event (repeat).")
@click.option("--all", "all_", is_flag=True, help="Every dead letter not redriven yet.")
@click.option("--dry-run", is_flag=True, help="Show what would be sent; change nothing.")
@json_option
def redrive_(
    *,
    stream: str,
    errors: tuple[str, ...],
    since: datetime | None,
    until: datetime | None,
    event_ids: tuple[str, ...],
    all_: bool,
    dry_run: bool,
    as_json: bool,
) -> None:
    """Send STREAM's chosen dead letters back to its topic, attempts reset, their jobs
    queued again; each dead letter is redriven once (the ledger <topic>.dlq.redriven)."""
    selection = Selection(frozenset(errors), frozenset(event_ids), since, until, all_)
    if selection.empty:
        raise click.UsageError(
            "choose the dead letters: --error, --since/--until, --event-id, or --all"
        )
    config = settings()
    declared = _stream(config, stream)
    reopened: set[str] = set()
    if dry_run:
        plan = plan_redrive(config, declared, selection)
    else:
        store = JobStore(config.database_url)
        try:
            plan, reopened = redrive(config, declared, selection, store)
        finally:
            store.dispose()
    _report_redrive(plan, reopened, dry_run=dry_run, as_json=as_json)


def _stream(config: Settings, name: str) -> StreamDeclaration:
    if name not in config.streams:
        known = ", ".join(sorted(config.streams))
        raise click.BadParameter(f"no stream {name!r} (streams: {known})", param_hint="STREAM")
    return config.streams[name]


def _letter(letter: DeadLetter, redriven: bool) -> dict[str, Any]:
    event = letter.event
    return {
        "dlq": {"topic": letter.topic, "partition": letter.partition, "offset": letter.offset},
        "dead_lettered_at": letter.timestamp.isoformat(),
        "event_id": event.event_id,
        "key": event.key.decode(errors="replace") if event.key is not None else None,
        "error": {"type": letter.error_type, "message": letter.error_message},
        "attempts": event.attempts,
        "original": {"topic": event.topic, "partition": event.partition, "offset": event.offset},
        "first_failure": letter.first_failure,
        "last_failure": letter.last_failure,
        "redriven": redriven,
        "headers": {
            name: value.decode(errors="replace")
            for name, value in event.headers.items()
            if not name.startswith("conveyor.")
        },
        "value": letter.value,
        # Poison that is not Avro, as it came (base64: it may not be text at all).
        "raw_value": None
        if letter.value is not None or event.raw is None
        else base64.b64encode(event.raw).decode(),
    }


def _echo_letter(shown: dict[str, Any]) -> None:
    dlq, original, error = shown["dlq"], shown["original"], shown["error"]
    click.echo(
        f"{where(dlq['topic'], dlq['partition'], dlq['offset'])}  {shown['dead_lettered_at']}  "
        f"{error['type']}  attempts {shown['attempts']}"
        + ("  (redriven)" if shown["redriven"] else "")
    )
    click.echo(f"  event {shown['event_id']}  key {shown['key']}")
    click.echo(
        f"  from {where(original['topic'], original['partition'], original['offset'])}; "
        f"failed first {shown['first_failure']}, last {shown['last_failure']}"
    )
    click.echo(f"  error: {error['message']}")
    if shown["value"] is not None:
        click.echo(f"  value: {json_text(shown['value'])}")
    else:
        click.echo(f"  raw value (base64, not Avro): {shown['raw_value']}")
    click.echo("")


def _report_redrive(plan: RedrivePlan, reopened: set[str], *, dry_run: bool, as_json: bool) -> None:
    stream = plan.stream
    by_error = Counter(letter.error_type for letter in plan.chosen)
    if as_json:
        echo_json(
            {
                "stream": stream.name,
                "dlq": stream.dlq_topic,
                "topic": stream.topic,
                "dry_run": dry_run,
                "redriven": 0 if dry_run else len(plan.chosen),
                "to_redrive": len(plan.chosen),
                "by_error": dict(sorted(by_error.items())),
                "event_ids": [letter.event.event_id for letter in plan.chosen],
                "reopened_jobs": len(reopened),
                "superseded": len(plan.superseded),
                "redriven_before": plan.already,
                "missing_event_ids": plan.missing,
            }
        )
        return
    if plan.chosen:
        click.echo(
            format_table(
                [
                    ("dead letter", "event id", "error"),
                    *((d.where, d.event.event_id, d.error_type) for d in plan.chosen),
                ],
                align="lll",
            )
        )
    if plan.missing:
        click.echo(f"not in {stream.dlq_topic}: {', '.join(plan.missing)}")
    click.echo(
        f"{plan.already:,} redriven before and {len(plan.superseded):,} superseded by a "
        "later dead letter of the same event"
    )
    if dry_run:
        click.echo(f"dry run: {len(plan.chosen):,} would go back to {stream.topic}")
    else:
        click.echo(
            f"sent {len(plan.chosen):,} back to {stream.topic}; {len(reopened):,} jobs queued again"
        )
