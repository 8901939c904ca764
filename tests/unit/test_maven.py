"""Prerequisites and the resolution cache."""

from __future__ import annotations

from pathlib import Path

import pytest

from conveyor.infra.exceptions import PrerequisiteError
from conveyor.infra.kafka import KAFKA_POM, kafka_version
from conveyor.infra.maven import java_executable, pom_property, resolve


def test_missing_java_is_a_one_line_prerequisite_error(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))

    with pytest.raises(PrerequisiteError, match=r"Java 17\+ is required"):
        java_executable()


def test_missing_maven_is_named_when_something_must_be_resolved(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))

    with pytest.raises(PrerequisiteError, match="`mvn` is not on PATH"):
        resolve("kafka-x", tmp_path / "cache", lambda out: ["validate"])


def test_a_resolved_artifact_is_reused_without_maven(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    (tmp_path / "kafka-x").mkdir()
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))

    assert resolve("kafka-x", tmp_path, lambda out: ["validate"]) == tmp_path / "kafka-x"


def test_the_kafka_version_is_read_from_the_pom() -> None:
    assert kafka_version() == pom_property(KAFKA_POM, "kafka.version")
    assert kafka_version().startswith("4.")
