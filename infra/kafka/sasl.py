"""A local cluster that authenticates its clients with SASL: PLAIN or SCRAM, one user.

The user is the one conveyor's clients are configured with (``KAFKA_SASL_MECHANISM``,
``KAFKA_SASL_USERNAME``, ``KAFKA_SASL_PASSWORD``, with ``KAFKA_SECURITY_PROTOCOL`` set to
``SASL_PLAINTEXT``), so the cluster and every client agree by construction. The brokers
speak SASL to each other too, as that user. PLAIN users live in the listener's JAAS
configuration; SCRAM credentials are written into the KRaft metadata when the storage is
formatted (``--add-scram``), as KRaft has no ZooKeeper to keep them in.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal, get_args

from pydantic import SecretStr

from conveyor.config import ClientConfig, KafkaSettings
from conveyor.infra.exceptions import InfraError

__all__ = ["LISTENER", "Mechanism", "SaslUser", "jaas_config"]

Mechanism = Literal["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"]
LISTENER = "SASL_PLAINTEXT"
# What can go into a JAAS string, a properties file and kafka-storage's --add-scram
# unquoted: no quotes, backslashes, separators or spaces.
_SAFE = re.compile(r"^[A-Za-z0-9._~!@#$%^&*+:/?-]+$")
_LOGIN_MODULES = {
    "PLAIN": "org.apache.kafka.common.security.plain.PlainLoginModule",
    "SCRAM-SHA-256": "org.apache.kafka.common.security.scram.ScramLoginModule",
    "SCRAM-SHA-512": "org.apache.kafka.common.security.scram.ScramLoginModule",
}


@dataclass(frozen=True)
class SaslUser:
    """The one user of a local SASL cluster."""

    mechanism: Mechanism
    username: str
    password: SecretStr

    def __post_init__(self) -> None:
        if self.mechanism not in get_args(Mechanism):
            raise InfraError(f"a local cluster speaks SASL PLAIN or SCRAM, not {self.mechanism}")
        for what, value in (
            ("username", self.username),
            ("password", self.password.get_secret_value()),
        ):
            if not _SAFE.match(value):
                raise InfraError(
                    f"the local cluster's SASL {what} may hold letters, digits and "
                    "._~!@#$%^&*+:/?- only"
                )

    @classmethod
    def from_settings(cls, kafka: KafkaSettings) -> SaslUser:
        """The user the Kafka settings log in as; raises unless they say SASL_PLAINTEXT."""
        if kafka.security_protocol != LISTENER:
            raise InfraError(
                f"a local SASL cluster listens with {LISTENER}; set "
                f"KAFKA_SECURITY_PROTOCOL={LISTENER} (it is {kafka.security_protocol})"
            )
        if kafka.sasl_mechanism is None or not kafka.sasl_username or kafka.sasl_password is None:
            raise InfraError(
                "a local SASL cluster needs its user: set KAFKA_SASL_MECHANISM "
                "(PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512), KAFKA_SASL_USERNAME and "
                "KAFKA_SASL_PASSWORD"
            )
        return cls(kafka.sasl_mechanism, kafka.sasl_username, kafka.sasl_password)

    @classmethod
    def of_clients(cls, kafka: KafkaSettings) -> SaslUser | None:
        """The user clients with these settings log in as; None if they do not use SASL."""
        return None if kafka.security_protocol == "PLAINTEXT" else cls.from_settings(kafka)

    def broker_properties(self) -> dict[str, str]:
        """What a node's server.properties adds to listen, and talk to its peers, with SASL."""
        return {
            "sasl.enabled.mechanisms": self.mechanism,
            "sasl.mechanism.inter.broker.protocol": self.mechanism,
            f"listener.name.{LISTENER.lower()}.{self.mechanism.lower()}.sasl.jaas.config": (
                jaas_config(self.mechanism, self.username, self.password, accepts=True)
            ),
        }

    def format_arguments(self) -> list[str]:
        """kafka-storage format's arguments that store this user's SCRAM credentials."""
        if not self.mechanism.startswith("SCRAM"):
            return []
        secret = self.password.get_secret_value()
        return ["--add-scram", f"{self.mechanism}=[name={self.username},password={secret}]"]

    def client_config(self) -> ClientConfig:
        """librdkafka's settings to log in as this user."""
        return {
            "security.protocol": LISTENER,
            "sasl.mechanism": self.mechanism,
            "sasl.username": self.username,
            "sasl.password": self.password.get_secret_value(),
        }


def jaas_config(
    mechanism: Mechanism, username: str, password: SecretStr, accepts: bool = False
) -> str:
    """The JAAS line (``sasl.jaas.config``) of a Java client logging in as ``username``;
    with ``accepts``, a PLAIN listener's, which also lists the one user it accepts."""
    user, secret = _quoted(username), _quoted(password.get_secret_value())
    line = f"{_LOGIN_MODULES[mechanism]} required username={user} password={secret}"
    if accepts and mechanism == "PLAIN":
        line += f" user_{username}={secret}"
    return line + ";"


def _quoted(value: str) -> str:
    """A JAAS option value: quoted, with its quotes and backslashes escaped."""
    escaped = value.replace("\\", "\\\\").replace('"', '\\"')
    return f'"{escaped}"'
