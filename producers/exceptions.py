"""Errors of conveyor's producers."""

from __future__ import annotations

from confluent_kafka import KafkaError, KafkaException

from conveyor.exceptions import ConveyorError

__all__ = [
    "ApiRefusedError",
    "ApiUnavailableError",
    "DeliveryError",
    "GroupActiveError",
    "ProducerBusyError",
    "ProducerError",
    "ProvisioningError",
    "ReplayError",
]


class ProducerError(ConveyorError):
    """Writing to Kafka failed."""


class ProvisioningError(ProducerError):
    """A topic could not be created or changed; the message names the topic and why,
    ``topic`` and ``code`` (librdkafka's error name, if Kafka refused) say it to code."""

    def __init__(self, message: str, topic: str | None = None, code: str | None = None) -> None:
        super().__init__(message)
        self.topic = topic
        self.code = code


class DeliveryError(ProducerError):
    """A record was not acknowledged; ``code`` is librdkafka's error name."""

    def __init__(self, message: str, code: str, retriable: bool = True) -> None:
        super().__init__(message)
        self.code = code
        self.retriable = retriable

    @classmethod
    def from_kafka(cls, err: KafkaError, topic: str) -> DeliveryError:
        return cls(f"{topic}: {err.str()}", code=err.name(), retriable=not err.fatal())


class ProducerBusyError(DeliveryError):
    """The producer cannot take more records now; try again shortly."""

    def __init__(self, message: str) -> None:
        super().__init__(message, code="BUSY", retriable=True)


class ReplayError(ProducerError):
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


class ApiRefusedError(ProducerError):
    """The API refused a request for good (4xx other than 429); ``detail`` says why."""

    def __init__(self, status: int, detail: object) -> None:
        super().__init__(f"the API answered {status}: {_readable(detail)}")
        self.status = status
        self.detail = detail


class ApiUnavailableError(ProducerError):
    """The API kept answering 503/429 or could not be reached, through every retry."""


def _readable(detail: object) -> str:
    """A 422's problem list as ``[index] field.path: reason``; anything else as it is."""
    if isinstance(detail, list):
        return "; ".join(
            f"[{p.get('index', 0)}] {'.'.join(str(x) for x in p.get('loc', []))}: {p.get('msg')}"
            for p in detail
            if isinstance(p, dict)
        )
    return str(detail)
