"""A lag snapshot for people (a table per group) and for scripts (one JSON object)."""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from conveyor.monitoring.groups import Owner
from conveyor.monitoring.lag import PartitionLag
from conveyor.monitoring.snapshot import GroupReading, LagSnapshot

__all__ = ["TABLE_ALIGN", "group_heading", "snapshot_json", "table_rows"]

# topic, partition, committed, end, lag, owner: numbers right-aligned.
TABLE_ALIGN = "lrrrrl"
_HEADER = ("topic", "partition", "committed", "end", "lag", "owner (member, host)")


def group_heading(reading: GroupReading) -> str:
    """The line above a group's table: its state, and how its lag is counted if unknown."""
    membership = reading.membership
    if not membership.known:
        return (
            f"group {reading.group}: unknown to the cluster (never joined or committed); "
            "lag counted from the start of each partition"
        )
    count = membership.members
    members = "no members" if count == 0 else f"{count} member{'s' if count > 1 else ''}"
    return f"group {reading.group}: {membership.state}, {members}"


def table_rows(reading: GroupReading) -> list[tuple[str, ...]]:
    """The header, a row per partition, a total per topic, and one for the whole group
    when it spans several topics."""
    rows: list[tuple[str, ...]] = [_HEADER]
    owners = reading.membership.owners
    for topic in reading.topics:
        rows += [_owned_row(p, owners.get((topic, p.partition))) for p in reading.partitions(topic)]
        rows.append((topic, "total", "", "", str(reading.topic_lag(topic)), ""))
    if len(reading.topics) > 1:
        rows.append(("all topics", "total", "", "", str(reading.total), ""))
    return rows


def _owned_row(p: PartitionLag, owner: Owner | None) -> tuple[str, ...]:
    committed = "none" if p.committed is None else str(p.committed)
    held_by = f"{owner.member_id} {owner.host}" if owner else "-"
    return (p.topic, str(p.partition), committed, str(p.end), str(p.lag), held_by)


def snapshot_json(snapshot: LagSnapshot) -> dict[str, Any]:
    """Everything in the tables, as one JSON-ready object (``committed`` null if never)."""
    return {
        "time": snapshot.taken_at.isoformat(),
        "groups": [_group_json(reading) for reading in snapshot.groups],
    }


def _group_json(reading: GroupReading) -> dict[str, Any]:
    owners = reading.membership.owners
    return {
        "group": reading.group,
        "state": reading.membership.state,
        "members": reading.membership.members,
        "lag": reading.total,
        "topics": [
            {
                "topic": topic,
                "lag": reading.topic_lag(topic),
                "partitions": [
                    _partition_json(p, owners.get((topic, p.partition)))
                    for p in reading.partitions(topic)
                ],
            }
            for topic in reading.topics
        ],
    }


def _partition_json(p: PartitionLag, owner: Owner | None) -> dict[str, Any]:
    return {
        "partition": p.partition,
        "start": p.start,
        "end": p.end,
        "committed": p.committed,
        "lag": p.lag,
        "owner": None if owner is None else asdict(owner),
    }
