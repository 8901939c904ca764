"""Questions to Kafka's admin API with a deadline, failures raised as one typed error."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from confluent_kafka import Consumer, KafkaException, TopicPartition
from confluent_kafka.admin import AdminClient, TopicMetadata

from conveyor.config import ClientConfig, KafkaSettings
from conveyor.kafka.exceptions import KafkaQueryError

__all__ = ["GROUP_REQUEST_TIMEOUT", "KafkaAdmin", "admin_client", "answer", "topic_metadata"]

T = TypeVar("T")

# librdkafka aborts the whole process (an assertion in rd_kafka_enq_once_del_source_return;
# librdkafka #3663 and #4605, open) some time after an admin request to a group coordinator
# timed out inside it, as one does while the coordinator is away: a fresh cluster still
# loading its offsets topic, the broker that led the group's partition just killed. So such
# requests get the longest librdkafka allows, an hour, and callers wait only their own
# timeout: a request given up on is answered, and dropped, once a coordinator is back.
GROUP_REQUEST_TIMEOUT = 3600.0


def answer(question: Callable[[], T], wanted: str, timeout: float) -> T:
    """``question()`` (a blocking admin call, or a future's ``result``), its failure as
    :class:`KafkaQueryError` naming what was ``wanted`` ("topic list", ...)."""
    try:
        return question()
    except KafkaException as exc:
        error = exc.args[0]
        raise KafkaQueryError(wanted, error.str(), error.name(), timeout) from exc
    except TimeoutError as exc:
        # The future's wait ran out first: always for group requests (see above), rarely
        # for others, whose own timeout inside librdkafka is the same.
        raise KafkaQueryError(wanted, "timed out", "_TIMED_OUT", timeout) from exc


class KafkaAdmin(AdminClient):
    """confluent-kafka's ``AdminClient``, which also reads groups' committed offsets safely.

    Committed offsets are asked through a consumer of the group, which never joins it,
    rather than the admin API: librdkafka's ListConsumerGroupOffsets crashes the process
    (it hands the coordinator's "loading" or "not coordinator" answer to a consumer group
    an admin client does not have) whenever a coordinator gives one of those answers, as
    on a fresh cluster or after the coordinator's broker died. A consumer asks again.
    """

    def __init__(self, config: ClientConfig, **kwargs: Any) -> None:
        super().__init__(dict(config), **kwargs)
        self._config = dict(config)
        self._kwargs = kwargs
        self._group_readers: dict[str, Consumer] = {}

    def committed(
        self, group: str, partitions: list[TopicPartition], timeout: float
    ) -> dict[tuple[str, int], int]:
        """``group``'s committed offsets of ``partitions``; those never committed are left out."""
        reader = self._group_readers.get(group)
        if reader is None:
            reader = Consumer(
                {**self._config, "group.id": group, "enable.auto.commit": "false"},
                **self._kwargs,
            )
            self._group_readers[group] = reader
        wanted = f"committed offsets of {group}"
        listed = answer(lambda: reader.committed(partitions, timeout=timeout), wanted, timeout)
        for tp in listed:
            if tp.error is not None:
                raise KafkaQueryError(wanted, tp.error.str(), tp.error.name(), timeout)
        return {(tp.topic, tp.partition): tp.offset for tp in listed if tp.offset >= 0}

    def close(self) -> None:
        """Close the group readers (the admin client itself goes with its last reference)."""
        for reader in self._group_readers.values():
            reader.close()
        self._group_readers.clear()


def admin_client(kafka: KafkaSettings, **kwargs: Any) -> KafkaAdmin:
    """The admin client every conveyor tool asks Kafka with: the cluster's connection
    settings, SASL and SSL included; ``kwargs`` go to librdkafka's constructor (``logger``)."""
    return KafkaAdmin(kafka.librdkafka_config(), **kwargs)


def topic_metadata(admin: AdminClient, topic: str, timeout: float) -> TopicMetadata:
    """The partitions of ``topic``; its ``error`` is set if the cluster does not have it.

    One topic per request, as librdkafka asks: listing every topic of a large cluster
    each time lag is measured would cost more than the answer is worth.
    """
    metadata = answer(lambda: admin.list_topics(topic, timeout=timeout), "topic list", timeout)
    return metadata.topics[topic]
