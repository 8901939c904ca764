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
