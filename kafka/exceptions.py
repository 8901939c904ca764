"""Errors of conveyor's Kafka clients: the cluster did not answer, or refused."""

from __future__ import annotations

from conveyor.exceptions import ConveyorError

__all__ = ["KafkaQueryError"]


# Answers of a cluster in motion (a topic just created, a leader moving): asked again a
# moment later, Kafka knows.
_TRANSIENT = frozenset(
    {
        "LEADER_NOT_AVAILABLE",
        "NOT_LEADER_FOR_PARTITION",
        "REPLICA_NOT_AVAILABLE",
        "UNKNOWN_LEADER_EPOCH",
        "FENCED_LEADER_EPOCH",
        "NOT_COORDINATOR",
        "COORDINATOR_NOT_AVAILABLE",
        "COORDINATOR_LOAD_IN_PROGRESS",
    }
)


class KafkaQueryError(ConveyorError):
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

    @property
    def transient(self) -> bool:
        """Whether the same question may well be answered a moment later."""
        return self.code in _TRANSIENT

    def at(self, servers: str) -> KafkaQueryError:
        """The same error naming the cluster, which only the caller that connected knows."""
        return KafkaQueryError(
            self.wanted, self.detail, self.code, self.timeout, f"Kafka at {servers}"
        )
