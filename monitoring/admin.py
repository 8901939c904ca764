"""Questions to Kafka's admin API with a deadline, failures raised as one typed error."""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

from confluent_kafka import KafkaException
from confluent_kafka.admin import AdminClient, TopicMetadata

from conveyor.monitoring.exceptions import KafkaQueryError

__all__ = ["answer", "topic_metadata"]

T = TypeVar("T")


def answer(question: Callable[[], T], wanted: str, timeout: float) -> T:
    """``question()`` (a blocking admin call, or a future's ``result``), its failure as
    :class:`KafkaQueryError` naming what was ``wanted`` ("topic list", ...)."""
    try:
        return question()
    except KafkaException as exc:
        error = exc.args[0]
        raise KafkaQueryError(wanted, error.str(), error.name(), timeout) from exc
    except TimeoutError as exc:
        # The admin request's own timeout is the same, so this is the rare case where
        # librdkafka had not yet given up when the future's wait did.
        raise KafkaQueryError(wanted, "timed out", "_TIMED_OUT", timeout) from exc


def topic_metadata(admin: AdminClient, topic: str, timeout: float) -> TopicMetadata:
    """The partitions of ``topic``; its ``error`` is set if the cluster does not have it.

    One topic per request, as librdkafka asks: listing every topic of a large cluster
    each time lag is measured would cost more than the answer is worth.
    """
    metadata = answer(lambda: admin.list_topics(topic, timeout=timeout), "topic list", timeout)
    return metadata.topics[topic]
