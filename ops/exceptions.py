"""Errors of the operator tools: provisioning topics, replays, re-publishing and redrives."""

from __future__ import annotations

from confluent_kafka import KafkaError, KafkaException

from conveyor.exceptions import ConveyorError

__all__ = ["GroupActiveError", "OpsError", "ProvisioningError", "ReplayError"]


class OpsError(ConveyorError):
    """An operator's command could not go ahead or did not finish."""


class ProvisioningError(OpsError):
    """A topic could not be created or changed; the message names the topic and why,
    ``topic`` and ``code`` (librdkafka's error name, if Kafka refused) say it to code."""

    def __init__(self, message: str, topic: str | None = None, code: str | None = None) -> None:
        super().__init__(message)
        self.topic = topic
        self.code = code


class ReplayError(OpsError):
    """A replay, re-publish or DLQ redrive could not go ahead or did not finish; the message
    names the topic, partition and offset, and ``code`` librdkafka's error where it had one."""

    def __init__(self, message: str, code: str | None = None) -> None:
        super().__init__(message)
        self.code = code

    @classmethod
    def from_kafka(cls, exc: KafkaException, doing: str) -> ReplayError:
        error = exc.args[0]
        if isinstance(error, KafkaError):
            return cls(f"{doing}: {error.str()}", code=error.name())
        return cls(f"{doing}: {exc}")


class GroupActiveError(ReplayError):
    """A consumer group's offsets cannot move while it has live members."""
