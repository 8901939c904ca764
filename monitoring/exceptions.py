"""Errors of the monitoring layer: Kafka could not tell what was asked of it."""

from __future__ import annotations

from conveyor.exceptions import ConveyorError

__all__ = ["KafkaQueryError", "MonitoringError", "UnknownTopicError"]


class MonitoringError(ConveyorError):
    """A measurement of groups, topics or offsets could not be made."""


class KafkaQueryError(MonitoringError):
    """Kafka did not answer a question in time, or refused it; ``code`` is librdkafka's
    error name (``_TRANSPORT`` and ``_TIMED_OUT`` when the cluster cannot be reached)."""

    def __init__(
        self, wanted: str, detail: str, code: str, timeout: float, cluster: str = "Kafka"
    ) -> None:
        super().__init__(f"{cluster} gave no {wanted} within {timeout:g}s: {detail}")
        self.wanted = wanted
        self.detail = detail
        self.code = code
        self.timeout = timeout

    def at(self, servers: str) -> KafkaQueryError:
        """The same error naming the cluster, which only the caller that connected knows."""
        return KafkaQueryError(
            self.wanted, self.detail, self.code, self.timeout, f"Kafka at {servers}"
        )


class UnknownTopicError(MonitoringError):
    """Topics asked about are not on the cluster; ``topics`` names them."""

    def __init__(self, topics: list[str]) -> None:
        super().__init__(
            f"unknown topics: {', '.join(topics)} "
            "(`conveyor topics apply` creates the declared streams' topics)"
        )
        self.topics = topics
