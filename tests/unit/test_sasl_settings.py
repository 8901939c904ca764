"""SASL settings reach every kind of client: brokers, Faust, the registry, child processes."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from faust.auth import SASLCredentials
from pydantic import SecretStr

from conveyor.config import KafkaSettings, load_settings
from conveyor.exceptions import ConveyorError
from conveyor.infra.kafka.properties import NodeSpec, server_properties
from conveyor.infra.kafka.sasl import SaslUser, jaas_config
from conveyor.infra.registry.local import _java_client_properties
from conveyor.infra.services import service_env
from conveyor.kafka.credentials import broker_credentials

SCRAM = KafkaSettings(
    bootstrap_servers="127.0.0.1:9092",
    security_protocol="SASL_PLAINTEXT",
    sasl_mechanism="SCRAM-SHA-256",
    sasl_username="shop",
    sasl_password=SecretStr("pa55-word"),
)


def parse(text: str) -> dict[str, str]:
    return dict(line.split("=", 1) for line in text.splitlines())


def test_a_sasl_node_listens_and_talks_to_its_peers_as_the_clients_user() -> None:
    node = NodeSpec(1, 9092, Path("/data/node-1"))
    user = SaslUser.from_settings(SCRAM)

    props = parse(server_properties(node, [node], user))

    assert props["listeners"] == "SASL_PLAINTEXT://127.0.0.1:9092,CONTROLLER://127.0.0.1:9192"
    assert props["inter.broker.listener.name"] == "SASL_PLAINTEXT"
    assert props["sasl.enabled.mechanisms"] == "SCRAM-SHA-256"
    assert props["sasl.mechanism.inter.broker.protocol"] == "SCRAM-SHA-256"
    assert props["listener.name.sasl_plaintext.scram-sha-256.sasl.jaas.config"] == (
        "org.apache.kafka.common.security.scram.ScramLoginModule required "
        'username="shop" password="pa55-word";'
    )
    assert user.format_arguments() == [
        "--add-scram",
        "SCRAM-SHA-256=[name=shop,password=pa55-word]",
    ]
    assert "pa55-word" not in repr(user)


def test_a_plain_listener_lists_the_user_it_accepts_and_needs_no_scram_credentials() -> None:
    user = SaslUser("PLAIN", "shop", SecretStr("pw"))

    jaas = user.broker_properties()["listener.name.sasl_plaintext.plain.sasl.jaas.config"]

    assert jaas.endswith('username="shop" password="pw" user_shop="pw";')
    assert user.format_arguments() == []


def test_a_local_cluster_refuses_settings_it_cannot_serve_with_the_reason() -> None:
    with pytest.raises(ConveyorError, match="KAFKA_SECURITY_PROTOCOL=SASL_PLAINTEXT"):
        SaslUser.from_settings(KafkaSettings(security_protocol="SASL_SSL"))
    with pytest.raises(ConveyorError, match="KAFKA_SASL_USERNAME"):
        SaslUser.from_settings(KafkaSettings(security_protocol="SASL_PLAINTEXT"))
    with pytest.raises(ConveyorError, match="password may hold"):
        SaslUser("PLAIN", "shop", SecretStr('a"b'))
    assert SaslUser.of_clients(KafkaSettings()) is None


def test_jaas_values_are_quoted_with_their_quotes_and_backslashes_escaped() -> None:
    line = jaas_config("PLAIN", "shop", SecretStr('q"b\\s'))

    assert line.endswith('username="shop" password="q\\"b\\\\s";')


def test_faust_logs_in_with_the_same_mechanism_user_and_password() -> None:
    credentials = broker_credentials(SCRAM)

    assert isinstance(credentials, SASLCredentials)
    assert (credentials.username, credentials.password) == ("shop", "pa55-word")
    assert credentials.mechanism.value == "SCRAM-SHA-256"
    assert credentials.protocol.value == "SASL_PLAINTEXT"
    assert broker_credentials(KafkaSettings()) is None


def test_the_registrys_java_clients_get_the_same_login() -> None:
    assert _java_client_properties(SCRAM) == {
        "security.protocol": "SASL_PLAINTEXT",
        "sasl.mechanism": "SCRAM-SHA-256",
        "sasl.jaas.config": jaas_config("SCRAM-SHA-256", "shop", SecretStr("pa55-word")),
    }
    assert _java_client_properties(KafkaSettings()) == {}


def test_a_child_process_gets_every_connection_setting_and_its_file_no_secret(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings = load_settings(kafka=SCRAM.model_dump(), data_dir=tmp_path)

    env = service_env(settings, tmp_path / "child.yaml")
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    child = load_settings()

    assert child.kafka.librdkafka_config() == settings.kafka.librdkafka_config()
    assert env["KAFKA_SASL_PASSWORD"] == "pa55-word"
    assert "pa55-word" not in (tmp_path / "child.yaml").read_text()
    assert set(yaml.safe_load((tmp_path / "child.yaml").read_text())) == {
        "streams",
        "api",
        "workers",
        "smtp",
        "reports",
        "telemetry",
        "webhooks",
    }
