"""Errors of conveyor's producers."""

from __future__ import annotations

from confluent_kafka import KafkaError

from conveyor.exceptions import ConveyorError

__all__ = ["DeliveryError", "ProducerBusyError", "ProducerError"]


class ProducerError(ConveyorError):
    """Writing to Kafka failed."""


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
