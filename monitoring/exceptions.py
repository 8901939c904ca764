"""Errors of watching the pipeline: a topic could not be read as its consumers read it, or
is not there (Kafka not answering is :class:`conveyor.kafka.exceptions.KafkaQueryError`)."""

from __future__ import annotations

from conveyor.exceptions import ConveyorError

__all__ = ["MonitoringError", "ReadError", "UnknownTopicError"]


class MonitoringError(ConveyorError):
    """Looking at the pipeline failed; the message says what and why."""


class ReadError(MonitoringError):
    """A topic could not be read; ``topic`` names it."""

    def __init__(self, message: str, topic: str) -> None:
        super().__init__(message)
        self.topic = topic


class UnknownTopicError(MonitoringError):
    """Topics asked about are not on the cluster; ``topics`` names them."""

    def __init__(self, topics: list[str]) -> None:
        named = f"topic {topics[0]!r}" if len(topics) == 1 else f"topics {', '.join(topics)}"
        super().__init__(
            f"{named} does not exist (`conveyor topics apply` creates the declared streams' topics)"
        )
        self.topics = topics
