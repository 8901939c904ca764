"""``conveyor topics apply``: make the cluster's topics what the stream declarations say.

The plan goes to stdout first (text, or one JSON object with ``--json``), then the
changes are made; notes and warnings go to stderr.
"""

from __future__ import annotations

import json
from typing import Any

import click

from conveyor.cli.options import note, settings
from conveyor.kafka.admin import admin_client
from conveyor.ops.topic_admin import apply_plan
from conveyor.ops.topic_plan import PARTITIONS, Change, TopicPlan, readable
from conveyor.ops.topics import plan_stream_topics

__all__ = ["topics"]

_MARKS = {"create": "+", "change": "~"}


@click.group()
def topics() -> None:
    """Provision Kafka topics from config/streams.yaml."""


@topics.command()
@click.option("--dry-run", is_flag=True, help="Show the plan only; change nothing.")
@click.option(
    "--force",
    is_flag=True,
    help="Also make changes that lose records or weaken a guarantee (shorter retention, "
    "fewer in-sync replicas, another cleanup policy).",
)
@click.option("--json", "as_json", is_flag=True, help="The plan as one JSON object.")
def apply(dry_run: bool, force: bool, as_json: bool) -> None:
    """Create and change every declared stream's topics (input, outputs, retry tiers,
    DLQ) to match the declarations: partitions, replication, retention, compaction and
    min.insync.replicas. Shows the plan first; never deletes anything."""
    config = settings()
    admin = admin_client(config.kafka)
    plan = plan_stream_topics(admin, config.streams.values())
    if as_json:
        click.echo(json.dumps(_as_json(plan, dry_run)))
    else:
        _echo_plan(plan)
    grown = [
        t.spec.name
        for t in plan.topics
        if t.exists and any(c.setting == PARTITIONS and c.verdict == "apply" for c in t.changes)
    ]
    if grown:
        note(
            f"warning: adding partitions to {', '.join(grown)} moves keys to other partitions: "
            "ordering by key breaks for existing keys"
        )
    if not plan.has_changes:
        note("nothing to change")
    elif dry_run:
        refused = plan.refused(force)
        note(
            "dry run: nothing changed"
            + (f"; {len(refused)} of the changes would be refused" if refused else "")
        )
    else:
        apply_plan(admin, plan, force)
        note("applied")


def _echo_plan(plan: TopicPlan) -> None:
    width = max(len(t.spec.name) for t in plan.topics)
    for topic in plan.topics:
        if topic.action == "unchanged":
            continue
        click.echo(f"{_MARKS[topic.action]} {topic.spec.name:<{width}}  {topic.action}")
        for change in topic.changes:
            click.echo(f"    {change.setting:<20} {_values(change)}{_verdict(change)}")
    click.echo(_counts(plan))


def _values(change: Change) -> str:
    wanted = readable(change.setting, change.wanted)
    if change.current is None:
        return wanted
    return f"{readable(change.setting, change.current)} → {wanted}"


def _verdict(change: Change) -> str:
    if change.verdict == "impossible":
        return f"  impossible: {change.note}"
    if change.verdict == "force":
        return f"  needs --force: {change.note}"
    return ""


def _counts(plan: TopicPlan) -> str:
    counts = {"create": 0, "change": 0, "unchanged": 0}
    for topic in plan.topics:
        counts[topic.action] += 1
    return (
        f"plan: {counts['create']} to create, {counts['change']} to change, "
        f"{counts['unchanged']} unchanged"
    )


def _as_json(plan: TopicPlan, dry_run: bool) -> dict[str, Any]:
    return {
        "dry_run": dry_run,
        "topics": [
            {
                "topic": t.spec.name,
                "action": t.action,
                "changes": [
                    {
                        "setting": c.setting,
                        "current": c.current,
                        "wanted": c.wanted,
                        "verdict": c.verdict,
                        "note": c.note,
                    }
                    for c in t.changes
                ],
            }
            for t in plan.topics
        ],
    }
