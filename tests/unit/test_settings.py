"""Settings: environment over the YAML file over defaults, and what clients receive."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from conveyor.config import load_settings
from conveyor.config.exceptions import ConfigError
from conveyor.infra.services import service_env


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in (
        "KAFKA_BOOTSTRAP_SERVERS",
        "SCHEMA_REGISTRY_URL",
        "CONVEYOR_CONFIG",
        "CONVEYOR_DATABASE_URL",
        "CONVEYOR_KAFKA__BOOTSTRAP_SERVERS",
    ):
        monkeypatch.delenv(name, raising=False)


def write_yaml(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, text: str) -> None:
    path = tmp_path / "conveyor.yaml"
    path.write_text(text)
    monkeypatch.setenv("CONVEYOR_CONFIG", str(path))


def test_defaults_point_at_the_local_stack() -> None:
    settings = load_settings()

    assert settings.kafka.bootstrap_servers == "127.0.0.1:9092"
    assert settings.schema_registry.url == "http://127.0.0.1:8081"
    assert set(settings.streams) == {"orders", "notifications", "reports", "webhooks"}


def test_environment_beats_yaml_which_beats_defaults(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    write_yaml(
        tmp_path,
        monkeypatch,
        """
kafka:
  bootstrap_servers: yaml-host:9092
  security_protocol: SASL_SSL
database_url: postgresql://yaml/db
""",
    )
    monkeypatch.setenv("KAFKA_BOOTSTRAP_SERVERS", "env-host:9092")

    settings = load_settings()

    assert settings.kafka.bootstrap_servers == "env-host:9092"
    assert settings.kafka.security_protocol == "SASL_SSL"
    assert settings.database_url == "postgresql://yaml/db"
    assert settings.schema_registry.url == "http://127.0.0.1:8081"


def test_prefixed_names_beat_the_ecosystem_names(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KAFKA_BOOTSTRAP_SERVERS", "plain:9092")
    monkeypatch.setenv("CONVEYOR_KAFKA__BOOTSTRAP_SERVERS", "prefixed:9092")
    monkeypatch.setenv("SCHEMA_REGISTRY_URL", "http://registry:8081")
    monkeypatch.setenv("CONVEYOR_DATABASE_URL", "sqlite:////tmp/x.db")

    settings = load_settings()

    assert settings.kafka.bootstrap_servers == "prefixed:9092"
    assert settings.schema_registry.url == "http://registry:8081"
    assert settings.database_url == "sqlite:////tmp/x.db"


def test_sasl_settings_become_librdkafka_keys_and_stay_out_of_repr(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("KAFKA_SECURITY_PROTOCOL", "SASL_PLAINTEXT")
    monkeypatch.setenv("KAFKA_SASL_MECHANISM", "SCRAM-SHA-512")
    monkeypatch.setenv("KAFKA_SASL_USERNAME", "svc")
    monkeypatch.setenv("KAFKA_SASL_PASSWORD", "s3cret-value")
    monkeypatch.setenv("KAFKA_CLIENT_CONFIG", '{"socket.keepalive.enable": "true"}')

    settings = load_settings()

    assert settings.kafka.librdkafka_config() == {
        "bootstrap.servers": "127.0.0.1:9092",
        "security.protocol": "SASL_PLAINTEXT",
        "sasl.mechanism": "SCRAM-SHA-512",
        "sasl.username": "svc",
        "sasl.password": "s3cret-value",
        "socket.keepalive.enable": "true",
    }
    assert "s3cret-value" not in repr(settings)


def test_settings_are_frozen_once_loaded() -> None:
    settings = load_settings()

    with pytest.raises(ValidationError):
        settings.database_url = "sqlite:///other.db"


def test_an_unreadable_config_file_is_a_readable_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CONVEYOR_CONFIG", "/nonexistent/conveyor.yaml")

    with pytest.raises(ConfigError, match=r"CONVEYOR_CONFIG=/nonexistent/conveyor.yaml"):
        load_settings()


def test_invalid_values_and_unknown_keys_name_the_setting(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    write_yaml(tmp_path, monkeypatch, "kafka:\n  security_protocol: SASL_FOO\n  bootstrapp: x\n")

    with pytest.raises(ConfigError) as error:
        load_settings()

    assert "kafka.security_protocol" in str(error.value)
    assert "kafka.bootstrapp" in str(error.value)


def test_a_child_process_gets_the_same_telemetry_settings_with_the_collectors_key_unmasked(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    parent = load_settings(
        telemetry={
            "log_format": "json",
            "otlp_endpoint": "http://127.0.0.1:4318",
            "otlp_headers": {"x-api-key": "s3cret"},
        },
        workers={"metrics_port": 0},
    )

    env = service_env(parent, tmp_path / "child.yaml")
    for name in ("CONVEYOR_CONFIG", "CONVEYOR_TELEMETRY__OTLP_HEADERS"):
        monkeypatch.setenv(name, env[name])
    child = load_settings()

    assert child.telemetry == parent.telemetry
    assert child.telemetry.otlp_headers["x-api-key"].get_secret_value() == "s3cret"
    assert "s3cret" not in (tmp_path / "child.yaml").read_text()
    assert child.workers.metrics_port == 0
