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
from collections.abc import Callable, Sequence
from dataclasses import dataclass

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

    def start(self) -> None:
        config = {**self._config, "error_cb": self._on_error}
        self._producer = Producer(config)
        self._poller = threading.Thread(target=self._poll, name="producer-poll", daemon=True)
        self._poller.start()

    def close(self, timeout: float = 30.0) -> int:
        """Flush what is buffered and stop polling; returns the records still undelivered."""
        if self._producer is None:
            return 0
        remaining = self._producer.flush(timeout)
        self._stopping.set()
        if self._poller is not None:
            self._poller.join(timeout)
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
        futures: list[asyncio.Future[Delivery]] = []
        for record in records:
            future: asyncio.Future[Delivery] = loop.create_future()
            try:
                producer.produce(
                    record.topic,
                    value=record.value,
                    key=record.key,
                    headers=record.headers,
                    on_delivery=self._resolver(loop, future),
                )
            except BufferError:
                future.set_exception(ProducerBusyError("the producer's buffer is full"))
            except KafkaException as exc:
                future.set_exception(DeliveryError.from_kafka(exc.args[0], record.topic))
            futures.append(future)
        results = await asyncio.gather(*futures, return_exceptions=True)
        return [r if isinstance(r, Delivery | DeliveryError) else _unexpected(r) for r in results]

    def _require_started(self) -> Producer:
        if self._producer is None:
            raise ProducerBusyError("the producer is not running")
        return self._producer

    @staticmethod
    def _resolver(
        loop: asyncio.AbstractEventLoop, future: asyncio.Future[Delivery]
    ) -> Callable[[KafkaError | None, Message], None]:
        def on_delivery(err: KafkaError | None, msg: Message) -> None:
            # Runs on the poll thread; futures belong to the loop.
            if err is not None:
                result: Delivery | DeliveryError = DeliveryError.from_kafka(err, msg.topic() or "")
            else:
                result = Delivery(msg.topic() or "", msg.partition() or 0, msg.offset() or 0)
            loop.call_soon_threadsafe(_settle, future, result)

        return on_delivery

    def _poll(self) -> None:
        while not self._stopping.is_set():
            producer = self._producer
            if producer is None:
                return
            producer.poll(0.05)

    def _on_error(self, err: KafkaError) -> None:
        if err.fatal():
            self._fatal = err
            log.error("fatal producer error code=%s reason=%s", err.name(), err.str())
        else:
            log.warning("producer error code=%s reason=%s", err.name(), err.str())


def _settle(future: asyncio.Future[Delivery], result: Delivery | DeliveryError) -> None:
    if future.done():
        return
    if isinstance(result, DeliveryError):
        future.set_exception(result)
    else:
        future.set_result(result)


def _unexpected(error: BaseException) -> DeliveryError:
    return DeliveryError(f"unexpected delivery failure: {error!r}", code="UNKNOWN")
