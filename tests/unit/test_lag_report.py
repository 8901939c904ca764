"""Lag snapshots as tables and JSON, and as series of samples for a plot."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

from PIL import Image

from conveyor.monitoring.groups import Membership, Owner
from conveyor.monitoring.lag import PartitionLag
from conveyor.monitoring.lag_plot import plot_lag
from conveyor.monitoring.lag_report import group_heading, snapshot_json, table_rows
from conveyor.monitoring.lag_series import LagSeries
from conveyor.monitoring.snapshot import GroupReading, LagSnapshot

T0 = datetime(2026, 11, 22, 10, 0, tzinfo=UTC)
WORKER = Owner("w-1-0a1b", "w-1", "/10.0.0.7")


def reading(
    group: str = "workers",
    state: str = "stable",
    *,
    orders: tuple[int | None, ...] = (8, None),
    retries: tuple[int | None, ...] = (),
    end: int = 10,
    owned: bool = True,
) -> GroupReading:
    """A group on ``orders`` (and ``orders.retry.1``), committed as given per partition."""
    lag = {
        (topic, n): PartitionLag(topic, n, start=2, end=end, committed=committed)
        for topic, committed_by_partition in (("orders", orders), ("orders.retry.1", retries))
        for n, committed in enumerate(committed_by_partition)
    }
    owners = {key: WORKER for key in lag} if owned else {}
    return GroupReading(Membership(group, state, 1 if owned else 0, owners), lag)


def test_rows_show_committed_end_lag_and_owner_then_the_topics_total() -> None:
    rows = table_rows(reading())

    assert rows == [
        ("topic", "partition", "committed", "end", "lag", "owner (member, host)"),
        ("orders", "0", "8", "10", "2", "w-1-0a1b /10.0.0.7"),
        # Never committed: the group would start at the partition's start (2).
        ("orders", "1", "none", "10", "8", "w-1-0a1b /10.0.0.7"),
        ("orders", "total", "", "", "10", ""),
    ]


def test_a_group_on_several_topics_gets_a_total_per_topic_and_one_overall() -> None:
    rows = table_rows(reading(orders=(9,), retries=(4,), owned=False))

    assert rows[1:] == [
        ("orders", "0", "9", "10", "1", "-"),
        ("orders", "total", "", "", "1", ""),
        ("orders.retry.1", "0", "4", "10", "6", "-"),
        ("orders.retry.1", "total", "", "", "6", ""),
        ("all topics", "total", "", "", "7", ""),
    ]


def test_the_heading_says_a_group_is_unknown_and_how_its_lag_is_counted() -> None:
    unknown = reading("ghost", "unknown", owned=False)

    assert group_heading(unknown) == (
        "group ghost: unknown to the cluster (never joined or committed); "
        "lag counted from the start of each partition"
    )
    assert group_heading(reading()) == "group workers: stable, 1 member"
    assert group_heading(reading(state="empty", owned=False)) == "group workers: empty, no members"


def test_json_has_every_figure_with_null_for_never_committed() -> None:
    snapshot = LagSnapshot(T0, (reading(),))

    document = snapshot_json(snapshot)

    assert document["time"] == "2026-11-22T10:00:00+00:00"
    (group,) = document["groups"]
    assert (group["group"], group["state"], group["members"], group["lag"]) == (
        "workers",
        "stable",
        1,
        10,
    )
    (topic,) = group["topics"]
    assert topic["lag"] == 10
    assert topic["partitions"][1] == {
        "partition": 1,
        "start": 2,
        "end": 10,
        "committed": None,
        "lag": 8,
        "owner": {"member_id": "w-1-0a1b", "client_id": "w-1", "host": "/10.0.0.7"},
    }


def draining(samples: int) -> LagSeries:
    """The workers' group catching up by one record a second on each of two partitions."""
    series = LagSeries()
    for n in range(samples):
        snapshot = LagSnapshot(T0 + timedelta(seconds=n), (reading(orders=(2 + n, 2 + n)),))
        series.add(snapshot)
    return series


def test_a_series_has_a_line_per_group_and_topic_in_seconds_since_the_first_sample() -> None:
    series = draining(3)

    (line,) = series.lines("orders")

    assert series.samples == 3
    assert series.topics == ["orders"]
    assert line.label == "workers"
    assert line.seconds == [0.0, 1.0, 2.0]
    assert line.lag == [16, 14, 12]


def test_per_partition_lines_come_beside_the_total() -> None:
    lines = draining(2).lines("orders", per_partition=True)

    assert [(line.label, line.lag) for line in lines] == [
        ("workers total", [16, 14]),
        ("workers p0", [8, 7]),
        ("workers p1", [8, 7]),
    ]


def test_the_plot_is_a_png_drawn_from_every_sample(tmp_path: Path) -> None:
    out = tmp_path / "lag.png"

    drawn = plot_lag(draining(5), out, per_partition=True)

    assert drawn == 5
    with Image.open(out) as picture:
        assert picture.format == "PNG"
        assert picture.info["Description"] == "5 samples"
