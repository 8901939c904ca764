"""``conveyor lag``'s refusals, before it asks Kafka anything."""

from __future__ import annotations

from pathlib import Path

from click.testing import CliRunner
from confluent_kafka import KafkaError

from conveyor.cli import main
from conveyor.kafka.exceptions import KafkaQueryError


def test_a_plot_that_is_not_a_png_is_a_usage_error(tmp_path: Path) -> None:
    result = CliRunner().invoke(main, ["lag", "--plot", str(tmp_path / "lag.svg")])

    assert result.exit_code == 2
    assert "the plot is a PNG: name a .png file" in result.output


def test_a_plot_into_a_missing_directory_is_refused_before_sampling(tmp_path: Path) -> None:
    result = CliRunner().invoke(main, ["lag", "--plot", str(tmp_path / "no" / "lag.png")])

    assert result.exit_code == 2
    assert f"no directory {tmp_path / 'no'}" in result.output


def test_a_kafka_error_names_the_cluster_once_the_caller_knows_it() -> None:
    error = KafkaQueryError("topic list", "Broker transport failure", "_TRANSPORT", 2.0)

    located = error.at("10.0.0.1:9092")

    assert str(error) == "Kafka gave no topic list within 2s: Broker transport failure"
    assert str(located) == (
        "Kafka at 10.0.0.1:9092 gave no topic list within 2s: Broker transport failure"
    )
    assert located.code == "_TRANSPORT"


def test_a_partition_without_a_leader_yet_is_transient_and_an_unreachable_cluster_is_not() -> None:
    # measure_lag asks again after the first (a topic just created), not after the second.
    leaderless = KafkaError(KafkaError.NOT_LEADER_FOR_PARTITION).name()
    assert KafkaQueryError("end offsets", "Not leader", leaderless, 2.0).transient
    assert not KafkaQueryError(
        "topic list", "Broker transport failure", "_TRANSPORT", 2.0
    ).transient
