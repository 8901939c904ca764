"""Errors of watching the pipeline: reading topics as their consumers do."""

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


class UnknownTopicError(ReadError):
    """The topic does not exist on the cluster."""

    def __init__(self, topic: str) -> None:
        super().__init__(f"topic {topic!r} does not exist", topic)
