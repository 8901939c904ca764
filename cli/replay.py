"""``conveyor replay``: reset a stopped consumer group to a time or offsets, or re-publish
a range of a topic into another topic (a versioned output)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import click

from conveyor.cli.options import echo_json, iso_time, json_option, note, settings
from conveyor.cli.progress import progress
from conveyor.common.text_table import format_table
from conveyor.config import Settings
from conveyor.kafka.admin import admin_client
from conveyor.ops.exceptions import GroupActiveError
from conveyor.ops.offsets import (
    OffsetMove,
    ResetTo,
    plan_reset,
    require_stopped,
    reset_group,
)
from conveyor.ops.republish import RepublishPlan, plan_republish, republish

__all__ = ["replay"]


@click.command()
@click.argument("topic")
@click.option("--group", help="The consumer group to reset (default: the workers' group).")
@click.option(
    "--from-time", type=iso_time, help="From the first record at or after this time (ISO-8601)."
)
@click.option(
    "--to-offset",
    "to_offsets",
    multiple=True,
    metavar="[PARTITION:]OFFSET",
    help="Reset to OFFSET on every partition, or on PARTITION only (repeatable).",
)
@click.option("--to-earliest", is_flag=True, help="Reset to the earliest record kept.")
@click.option(
    "--into", metavar="TOPIC", help="Re-publish the range into TOPIC instead of resetting a group."
)
@click.option("--until-time", type=iso_time, help="With --into: up to this time (excluded).")
@click.option(
    "--from-offset", type=click.IntRange(0), help="With --into: from this offset of each partition."
)
@click.option(
    "--until-offset",
    type=click.IntRange(0),
    help="With --into: up to this offset of each partition (excluded).",
)
@click.option(
    "--dry-run", is_flag=True, help="Show what would move, per partition; change nothing."
)
@json_option
def replay(
    *,
    topic: str,
    group: str | None,
    from_time: datetime | None,
    to_offsets: tuple[str, ...],
    to_earliest: bool,
    into: str | None,
    until_time: datetime | None,
    from_offset: int | None,
    until_offset: int | None,
    dry_run: bool,
    as_json: bool,
) -> None:
    """Replay TOPIC (a topic, or a stream's name for its topic).

    \b
    Reset a stopped consumer group, so that its consumers read history again:
      conveyor replay orders --from-time 2026-11-01T12:00:00Z [--group G] [--dry-run]
      conveyor replay orders --to-offset 1500 | --to-offset 2:1500 | --to-earliest
    Re-publish a range into another topic, keeping keys, headers and order; safe to run
    twice (a second run copies nothing already copied):
      conveyor replay orders --into orders.v2 [--from-time T] [--until-time T] [--dry-run]
    """
    config = settings()
    source = config.streams[topic].topic if topic in config.streams else topic
    if into is not None:
        if group or to_offsets or to_earliest:
            raise click.UsageError(
                "--into copies a range: --group, --to-offset and "
                "--to-earliest reset a group and do not go with it"
            )
        if (from_time and from_offset is not None) or (until_time and until_offset is not None):
            raise click.UsageError("give each end of the range as a time or an offset, not both")
        plan = plan_republish(
            config.kafka,
            source,
            into,
            since=from_time,
            until=until_time,
            from_offset=from_offset,
            until_offset=until_offset,
        )
        _republish(config, plan, dry_run, as_json)
        return
    if until_time or from_offset is not None or until_offset is not None:
        raise click.UsageError("--until-time, --from-offset and --until-offset go with --into")
    to = _reset_to(from_time, to_offsets, to_earliest)
    group = group or config.workers.group_id
    admin = admin_client(config.kafka)
    moves = plan_reset(admin, group, source, to)
    if dry_run:
        try:
            require_stopped(admin, group)
        except GroupActiveError as exc:
            note(f"note: {exc}")
    else:
        reset_group(admin, group, moves)
    _report_reset(group, source, to, moves, dry_run=dry_run, as_json=as_json)


def _reset_to(from_time: datetime | None, to_offsets: tuple[str, ...], earliest: bool) -> ResetTo:
    if sum((from_time is not None, bool(to_offsets), earliest)) != 1:
        raise click.UsageError(
            "say where to reset the group: --from-time, --to-offset or --to-earliest (one), "
            "or re-publish with --into"
        )
    if from_time is not None or earliest:
        return ResetTo(time=from_time, earliest=earliest)
    every: int | None = None
    offsets: dict[int, int] = {}
    for given in to_offsets:
        partition, _, offset = given.rpartition(":")
        if not offset.isdigit() or (partition and not partition.isdigit()):
            raise click.BadParameter(
                f"{given!r} is not OFFSET or PARTITION:OFFSET", param_hint="--to-offset"
            )
        if partition:
            offsets[int(partition)] = int(offset)
        else:
            every = int(offset)
    if every is not None and (offsets or len(to_offsets) > 1):
        raise click.BadParameter(
            "one OFFSET for every partition, or PARTITION:OFFSET pairs", param_hint="--to-offset"
        )
    return ResetTo(offset=every, offsets=offsets)


def _report_reset(
    group: str, topic: str, to: ResetTo, moves: list[OffsetMove], *, dry_run: bool, as_json: bool
) -> None:
    again = sum(m.again for m in moves)
    skipped = sum(m.skipped for m in moves)
    if as_json:
        echo_json(
            {
                "group": group,
                "topic": topic,
                "to": str(to),
                "dry_run": dry_run,
                "partitions": [
                    {
                        "partition": m.partition,
                        "committed": m.committed,
                        "new": m.new,
                        "end": m.end,
                        "again": m.again,
                        "skipped": m.skipped,
                    }
                    for m in moves
                ],
                "again": again,
                "skipped": skipped,
            }
        )
        return
    click.echo(f"consumer group {group} on {topic}, to {to}:")
    click.echo(
        format_table(
            [
                ("partition", "committed", "new", "end", "read again", "skipped"),
                *(
                    (
                        m.where,
                        "-" if m.committed is None else str(m.committed),
                        str(m.new),
                        str(m.end),
                        f"{m.again:,}",
                        f"{m.skipped:,}",
                    )
                    for m in moves
                ),
            ],
            align="lrrrrr",
        )
    )
    verb = "would" if dry_run else "will"
    click.echo(
        f"{again:,} records {verb} be read again, {skipped:,} skipped"
        + (" (dry run: nothing changed)" if dry_run else "; start the workers to replay")
    )


def _republish(config: Settings, plan: RepublishPlan, dry_run: bool, as_json: bool) -> None:
    figures: dict[str, Any] = {}
    if not dry_run and plan.to_copy:
        with progress(plan.to_copy, f"re-publishing {plan.source} into {plan.target}") as advance:
            result = republish(config.kafka, plan, advance)
        figures = {
            "records": result.records,
            "seconds": round(result.seconds, 3),
            "records_per_s": round(result.rate),
        }
    if as_json:
        echo_json(
            {
                "source": plan.source,
                "target": plan.target,
                "mapping": "partition" if plan.same_partitions else "key",
                "dry_run": dry_run,
                "partitions": [
                    {
                        "partition": asked.partition,
                        "from": asked.start,
                        "until": asked.end,
                        "copied_before": asked.count - left.count,
                        "to_copy": left.count,
                    }
                    for asked, left in zip(plan.requested, plan.ranges, strict=True)
                ],
                "copied_before": plan.copied_before,
                "to_copy": plan.to_copy,
                **figures,
            }
        )
        return
    click.echo(f"{plan.source} into {plan.target}: {plan.mapping}")
    click.echo(
        format_table(
            [
                ("partition", "from", "until", "copied before", "to copy"),
                *(
                    (
                        asked.where,
                        str(asked.start),
                        str(asked.end),
                        f"{asked.count - left.count:,}",
                        f"{left.count:,}",
                    )
                    for asked, left in zip(plan.requested, plan.ranges, strict=True)
                ),
            ],
            align="lrrrr",
        )
    )
    if dry_run:
        click.echo(f"dry run: {plan.to_copy:,} records would be copied; nothing changed")
    elif figures:
        click.echo(
            f"copied {figures['records']:,} records in {figures['seconds']:.1f} s "
            f"({figures['records_per_s']:,} records/s)"
        )
    else:
        note("nothing to copy: the range is empty or was copied before")
