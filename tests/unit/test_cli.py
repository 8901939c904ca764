"""The CLI's errors: one readable line, exit 1 for failures and 2 for usage."""

from __future__ import annotations

import json
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
        (
            ["dlq", "show", "nope"],
            "no stream 'nope' (streams: notifications, orders, reports, webhooks)",
        ),
    ],
)
def test_replay_and_dlq_usage_errors_exit_2_before_touching_kafka(
    args: list[str], says: str
) -> None:
    result = CliRunner().invoke(main, args)

    assert result.exit_code == 2, result.output
    assert says in result.output


@pytest.mark.parametrize("host", ["0.0.0.0", "192.0.2.10", "::", "api.example.com"])
def test_the_api_refuses_to_listen_beyond_loopback_without_keys(host: str) -> None:
    result = CliRunner().invoke(main, ["api", "--host", host])

    assert result.exit_code == 1
    assert result.output.strip() == (
        f"Error: refusing to listen on {host} without API keys; configure api.keys "
        "(`conveyor api keygen`) or listen on 127.0.0.1"
    )


def test_a_status_of_a_sasl_cluster_without_its_login_says_which_settings_to_set(
    tmp_path: Path,
) -> None:
    state = {
        "nodes": 1,
        "port": 9092,
        "cluster_id": "x",
        "pids": {},
        "sasl": {"mechanism": "PLAIN", "username": "shop"},
    }
    (tmp_path / "kafka").mkdir()
    (tmp_path / "kafka" / "cluster.json").write_text(json.dumps(state))

    result = CliRunner().invoke(main, ["broker", "status", "--data-dir", str(tmp_path)])

    assert result.exit_code == 1
    assert "listens with SASL (PLAIN, user shop)" in result.output
    assert "KAFKA_SASL_PASSWORD" in result.output
