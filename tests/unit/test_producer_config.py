"""Every producer is durable, idempotent and partitions like the Java client."""

from __future__ import annotations

from conveyor.config import KafkaSettings
from conveyor.kafka.config import producer_config


def test_producers_ack_on_all_replicas_and_use_javas_murmur2() -> None:
    config = producer_config(KafkaSettings(bootstrap_servers="b:9092"))

    assert config["acks"] == "all"
    assert config["enable.idempotence"] == "true"
    assert config["partitioner"] == "murmur2_random"
    assert config["bootstrap.servers"] == "b:9092"


def test_connection_settings_pass_through_and_overrides_win() -> None:
    kafka = KafkaSettings(
        security_protocol="SASL_SSL",
        sasl_mechanism="PLAIN",
        sasl_username="u",
        client_config={"linger.ms": "20"},
    )

    config = producer_config(kafka, **{"linger.ms": "5"})

    assert config["security.protocol"] == "SASL_SSL"
    assert config["sasl.username"] == "u"
    assert config["linger.ms"] == "5"
