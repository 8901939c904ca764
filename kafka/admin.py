"""Questions to Kafka's admin API with a deadline, failures raised as one typed error."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from functools import partial
from typing import Any, TypeVar

from confluent_kafka import Consumer, KafkaException, TopicPartition
from confluent_kafka.admin import AdminClient, ConsumerGroupDescription, TopicMetadata

from conveyor.config import ClientConfig, KafkaSettings
from conveyor.kafka.exceptions import KafkaQueryError

__all__ = ["GROUP_REQUEST_TIMEOUT", "KafkaAdmin", "admin_client", "answer", "topic_metadata"]

T = TypeVar("T")

log = logging.getLogger(__name__)

_TIMED_OUT = "_TIMED_OUT"

# librdkafka aborts the whole process (an assertion in rd_kafka_enq_once_del_source_return;
# librdkafka #3663 and #4605, open, and still so in 2.16.0) some time after an admin request
# to a group coordinator timed out inside it, as one does while the coordinator is away: a
# fresh cluster still loading its offsets topic, the broker that led the group's partition
# just killed. So such requests get the longest librdkafka allows, an hour, and callers
# wait only their own timeout: a request given up on is answered, and dropped, once a
# coordinator is back.
GROUP_REQUEST_TIMEOUT = 3600.0

# How long the client that describes groups may go on asking without a single answer
# before it is replaced (see KafkaAdmin.group_description): far longer than a fresh one
# takes to connect and find the coordinator (some 50 ms here), so a replacement gets its
# chance, and short beside a failover (10 to 25 s here), so descriptions come back with it.
_DESCRIBER_STUCK_AFTER = 5.0


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
        raise KafkaQueryError(wanted, "timed out", _TIMED_OUT, timeout) from exc


class KafkaAdmin(AdminClient):
    """confluent-kafka's ``AdminClient``, which also reads groups' committed offsets and
    descriptions safely.

    Committed offsets are asked through a consumer of the group, which never joins it,
    rather than the admin API: librdkafka's ListConsumerGroupOffsets crashes the process
    (it hands the coordinator's "loading" or "not coordinator" answer to a consumer group
    an admin client does not have) whenever a coordinator gives one of those answers, as
    on a fresh cluster or after the coordinator's broker died. A consumer asks again.
    Descriptions go through an admin client of their own; see :meth:`group_description`.
    """

    def __init__(self, config: ClientConfig, **kwargs: Any) -> None:
        super().__init__(dict(config), **kwargs)
        self._config = dict(config)
        self._kwargs = kwargs
        self._group_readers: dict[str, Consumer] = {}
        self._describer: AdminClient | None = None
        self._unanswered_since: float | None = None

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

    def group_description(self, group: str, timeout: float) -> ConsumerGroupDescription:
        """``group``'s description as its coordinator gives it.

        Asked through an admin client of its own, dropped for a fresh one once it has
        asked for ``_DESCRIBER_STUCK_AFTER`` seconds without an answer. librdkafka (2.16;
        its issue #5511) caches each group's coordinator, and a request for a dead one
        waits for it, asking who the coordinator is now only when a broker connection
        changes state, at most once a second. When the dead broker leaves the cluster's
        metadata (fenced, its partitions led elsewhere), its connection is dropped and
        changes state no more: if the last question came too early to hear of the new
        coordinator, that request and every later one of the client wait, each with its
        hour-long timeout, until the broker returns. A fresh client asks anew. Dropping
        one with requests outstanding fails them as destroyed, which is safe (unlike the
        timeout of GROUP_REQUEST_TIMEOUT).
        """
        if self._describer is None:
            self._describer = AdminClient(self._config, **self._kwargs)
        asked = time.monotonic()
        future = self._describer.describe_consumer_groups(
            [group], request_timeout=GROUP_REQUEST_TIMEOUT
        )[group]
        try:
            description: ConsumerGroupDescription = answer(
                partial(future.result, timeout), f"description of {group}", timeout
            )
        except KafkaQueryError as exc:
            if exc.code == _TIMED_OUT:
                self._not_answered(asked)
            else:
                self._unanswered_since = None
            raise
        self._unanswered_since = None
        return description

    def _not_answered(self, asked: float) -> None:
        if self._unanswered_since is None:
            self._unanswered_since = asked
        waited = time.monotonic() - self._unanswered_since
        if waited >= _DESCRIBER_STUCK_AFTER:
            log.warning("group describer replaced unanswered_seconds=%.1f", waited)
            self._describer = None
            self._unanswered_since = None

    def close(self) -> None:
        """Close the group readers and drop the describer (an admin client, this one
        included, goes with its last reference)."""
        for reader in self._group_readers.values():
            reader.close()
        self._group_readers.clear()
        self._describer = None


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
