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
from dataclasses import dataclass
from functools import partial

from confluent_kafka import KafkaError, KafkaException, Message, Producer

from conveyor.config import ClientConfig
from conveyor.producers.exceptions import DeliveryError, ProducerBusyError
from conveyor.producers.identity import KafkaHeaders

__all__ = ["AsyncProducer", "Delivery", "OutgoingRecord"]

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class OutgoingRecord:
    topic: str
    key: bytes
    value: bytes
    headers: KafkaHeaders


@dataclass(frozen=True, slots=True)
class Delivery:
    """Where an acknowledged record landed."""

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
        self._reports: list[
            tuple[asyncio.Future[Delivery | DeliveryError], Delivery | DeliveryError]
        ] = []

    def start(self) -> None:
        config = {**self._config, "error_cb": self._on_error}
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

    async def send_all(self, records: Sequence[OutgoingRecord]) -> list[Delivery | DeliveryError]:
        """Enqueue every record, then await each acknowledgement, in order.

        The caller checks :meth:`has_room_for` first; if the buffer still fills up
        mid-batch, the records that did not fit come back as :class:`ProducerBusyError`.
        """
        producer = self._require_started()
        loop = asyncio.get_running_loop()
        futures: list[asyncio.Future[Delivery | DeliveryError]] = []
        for record in records:
            future: asyncio.Future[Delivery | DeliveryError] = loop.create_future()
            try:
                producer.produce(
                    record.topic,
                    value=record.value,
                    key=record.key,
                    headers=record.headers,
                    on_delivery=partial(self._delivered, future),
                )
            except BufferError:
                future.set_result(ProducerBusyError("the producer's buffer is full"))
            except KafkaException as exc:
                future.set_result(DeliveryError.from_kafka(exc.args[0], record.topic))
            futures.append(future)
        if len(futures) == 1:
            return [await futures[0]]
        return list(await asyncio.gather(*futures))

    def _require_started(self) -> Producer:
        if self._producer is None:
            raise ProducerBusyError("the producer is not running")
        return self._producer

    def _delivered(
        self,
        future: asyncio.Future[Delivery | DeliveryError],
        err: KafkaError | None,
        msg: Message,
    ) -> None:
        """A delivery report, on the poll thread: kept until the poll call returns."""
        if err is not None:
            result: Delivery | DeliveryError = DeliveryError.from_kafka(err, msg.topic() or "")
        else:
            result = Delivery(msg.topic() or "", msg.partition() or 0, msg.offset() or 0)
        self._reports.append((future, result))

    def _poll(self) -> None:
        while not self._stopping.is_set():
            producer = self._producer
            if producer is None:
                return
            producer.poll(0.05)
            self._dispatch_reports()

    def _dispatch_reports(self) -> None:
        """Hand the reports gathered by one poll to the event loop: one wake-up for all."""
        if not self._reports:
            return
        reports, self._reports = self._reports, []
        loop = reports[0][0].get_loop()
        if not loop.is_closed():
            loop.call_soon_threadsafe(_settle_all, reports)

    def _on_error(self, err: KafkaError) -> None:
        if err.fatal():
            self._fatal = err
            log.error("fatal producer error code=%s reason=%s", err.name(), err.str())
        else:
            log.warning("producer error code=%s reason=%s", err.name(), err.str())


def _settle_all(
    reports: list[tuple[asyncio.Future[Delivery | DeliveryError], Delivery | DeliveryError]],
) -> None:
    for future, result in reports:
        if not future.done():
            future.set_result(result)
