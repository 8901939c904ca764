"""A confluent-kafka producer for asyncio: ``await`` each record's delivery.

``produce()`` only enqueues into librdkafka's buffer, so it is called straight
from the event loop; one background thread polls for delivery reports and
resolves each record's future on the loop. No request ever flushes: a batch of
records shares librdkafka's batching and their acknowledgements arrive together.
(confluent-kafka's own ``AIOProducer`` adds a buffering layer with a timeout on
top, which is latency the API does not want.)
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Sequence
from functools import partial
from typing import NamedTuple

from confluent_kafka import KafkaError, KafkaException, Message, Producer

from conveyor.config import ClientConfig
from conveyor.kafka.identity import KafkaHeaders
from conveyor.producers.exceptions import DeliveryError, ProducerBusyError

__all__ = ["AsyncProducer", "Delivery", "Outgoing"]

log = logging.getLogger(__name__)
_librdkafka_log = logging.getLogger("conveyor.librdkafka")


# A record to produce: key, value, headers.
Outgoing = tuple[bytes, bytes, KafkaHeaders]


class Delivery(NamedTuple):
    """Where an acknowledged record landed (a tuple: one is made per record)."""

    topic: str
    partition: int
    offset: int


class AsyncProducer:
    """Owns one librdkafka producer and its poll thread; ``start()`` and ``close()`` bound them."""

    def __init__(self, config: ClientConfig, max_in_flight: int) -> None:
        self._config = config
        self._max_in_flight = max_in_flight
        self._producer: Producer | None = None
        self._poller: threading.Thread | None = None
        self._stopping = threading.Event()
        self._fatal: KafkaError | None = None
        self._reports: list[_Pending] = []

    def start(self) -> None:
        # librdkafka's own lines (a broker gone, a coordinator loading) go through logging,
        # served by the poll thread, so they come out in the process's format (JSON too)
        # rather than raw on stderr.
        config = {**self._config, "error_cb": self._on_error, "logger": _librdkafka_log}
        self._producer = Producer(config)
        self._poller = threading.Thread(target=self._poll, name="producer-poll", daemon=True)
        self._poller.start()

    def close(self, timeout: float = 30.0) -> int:
        """Stop polling, flush what is buffered; returns the records still undelivered."""
        if self._producer is None:
            return 0
        self._stopping.set()
        if self._poller is not None:
            self._poller.join(timeout)
        # The poll thread is gone: flush serves the last delivery reports on this thread.
        remaining = self._producer.flush(timeout)
        self._dispatch_reports()
        self._producer = None
        return remaining

    @property
    def in_flight(self) -> int:
        """Records buffered or awaiting acknowledgement."""
        return len(self._producer) if self._producer is not None else 0

    @property
    def healthy(self) -> bool:
        return self._producer is not None and self._fatal is None

    def has_room_for(self, count: int) -> bool:
        return self.in_flight + count <= self._max_in_flight

    async def send_all(
        self, topic: str, records: Sequence[Outgoing]
    ) -> list[Delivery | DeliveryError]:
        """Enqueue every record to ``topic``, then await all their acknowledgements; results
        in order.

        The caller checks :meth:`has_room_for` first; if the buffer still fills up
        mid-batch, the records that did not fit come back as :class:`ProducerBusyError`.
        """
        producer = self._require_started()
        if not records:
            return []
        pending = _Pending(asyncio.get_running_loop().create_future(), len(records))
        for index, (key, value, headers) in enumerate(records):
            try:
                producer.produce(
                    topic,
                    value=value,
                    key=key,
                    headers=headers,
                    on_delivery=partial(self._delivered, pending, index),
                )
            except BufferError:
                self._refused(pending, index, ProducerBusyError("the producer's buffer is full"))
            except KafkaException as exc:
                self._refused(pending, index, DeliveryError.from_kafka(exc.args[0], topic))
        return await pending.done

    def _require_started(self) -> Producer:
        if self._producer is None:
            raise ProducerBusyError("the producer is not running")
        return self._producer

    def _delivered(
        self, pending: _Pending, index: int, err: KafkaError | None, msg: Message
    ) -> None:
        """A delivery report, on the poll thread."""
        if err is not None:
            self._resolve(pending, index, DeliveryError.from_kafka(err, msg.topic() or ""))
        else:
            self._resolve(
                pending, index, Delivery(msg.topic() or "", msg.partition() or 0, msg.offset() or 0)
            )

    def _resolve(self, pending: _Pending, index: int, result: Delivery | DeliveryError) -> None:
        """On the poll thread: settled with the other reports of this poll (one wake-up)."""
        if pending.record(index, result):
            self._reports.append(pending)

    @staticmethod
    def _refused(pending: _Pending, index: int, error: DeliveryError) -> None:
        """On the event loop's thread: a record librdkafka would not take."""
        if pending.record(index, error):
            pending.done.set_result(pending.results)

    def _poll(self) -> None:
        while not self._stopping.is_set():
            producer = self._producer
            if producer is None:
                return
            producer.poll(0.05)
            self._dispatch_reports()

    def _dispatch_reports(self) -> None:
        """Hand the requests completed by one poll to the event loop: one wake-up for all."""
        if not self._reports:
            return
        reports, self._reports = self._reports, []
        loop = reports[0].done.get_loop()
        if not loop.is_closed():
            loop.call_soon_threadsafe(_settle_all, reports)

    def _on_error(self, err: KafkaError) -> None:
        if err.fatal():
            self._fatal = err
            log.error("fatal producer error code=%s reason=%s", err.name(), err.str())
        else:
            log.warning("producer error code=%s reason=%s", err.name(), err.str())


class _Pending:
    """One ``send_all`` call's records, until the last of them is acknowledged."""

    __slots__ = ("done", "lock", "remaining", "results")

    def __init__(self, done: asyncio.Future[list[Delivery | DeliveryError]], count: int) -> None:
        self.done = done
        self.remaining = count
        self.results: list[Delivery | DeliveryError] = [ProducerBusyError("not sent")] * count
        # Reports arrive on the poll thread, refusals on the event loop's.
        self.lock = threading.Lock()

    def record(self, index: int, result: Delivery | DeliveryError) -> bool:
        """Store one record's outcome; True when it was the last one outstanding."""
        self.results[index] = result
        with self.lock:
            self.remaining -= 1
            return self.remaining == 0


def _settle_all(reports: list[_Pending]) -> None:
    for pending in reports:
        if not pending.done.done():
            pending.done.set_result(pending.results)
