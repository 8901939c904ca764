"""The CLI's errors: one readable line, exit 1 for failures and 2 for usage."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from conveyor.cli import main


def test_status_without_a_cluster_says_so_in_one_line(tmp_path: Path) -> None:
    result = CliRunner().invoke(main, ["broker", "status", "--data-dir", str(tmp_path)])

    assert result.exit_code == 1
    assert result.output.strip() == f"Error: no local Kafka cluster recorded in {tmp_path}/kafka"


def test_an_unsupported_node_count_is_a_usage_error(tmp_path: Path) -> None:
    result = CliRunner().invoke(main, ["broker", "start", "--nodes", "2"])

    assert result.exit_code == 2
    assert "'2' is not one of '1', '3'" in result.output


def test_a_broken_config_file_is_reported_not_raised(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    bad = tmp_path / "conveyor.yaml"
    bad.write_text("kafka: [unclosed")
    monkeypatch.setenv("CONVEYOR_CONFIG", str(bad))

    result = CliRunner().invoke(main, ["broker", "status"])

    assert result.exit_code == 1
    assert result.output.startswith(f"Error: CONVEYOR_CONFIG={bad}: not valid YAML")
    assert "Traceback" not in result.output


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (["replay", "orders"], "say where to reset the group"),
        (["replay", "orders", "--to-earliest", "--to-offset", "5"], "one), or re-publish"),
        (["replay", "orders", "--from-time", "2026-11-01T12:00:00"], "needs its UTC offset"),
        (["replay", "orders", "--from-time", "yesterday"], "is not an ISO-8601 time"),
        (["replay", "orders", "--to-offset", "a:5"], "is not OFFSET or PARTITION:OFFSET"),
        (["replay", "orders", "--to-offset", "5", "--to-offset", "1:5"], "PARTITION:OFFSET pairs"),
        (["replay", "orders", "--into", "v2", "--to-earliest"], "do not go with it"),
        (["replay", "orders", "--until-offset", "9", "--to-earliest"], "go with --into"),
        (["dlq", "redrive", "orders"], "choose the dead letters"),
        (["dlq", "show", "nope"], "no stream 'nope' (streams: notifications, orders)"),
    ],
)
def test_replay_and_dlq_usage_errors_exit_2_before_touching_kafka(
    args: list[str], says: str
) -> None:
    result = CliRunner().invoke(main, args)

    assert result.exit_code == 2, result.output
    assert says in result.output
