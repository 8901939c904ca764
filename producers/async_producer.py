"""A confluent-kafka producer for asyncio: ``await`` each record's delivery.

``produce()`` only enqueues into librdkafka's buffer, so it is called straight from the
event loop, and so is ``poll()``, which serves the delivery reports: every millisecond
while records await their acknowledgement, every tenth of a second otherwise (for
librdkafka's errors and log lines). The reports then settle each request's future on the
loop itself. A poll thread did this before: it cost ~13 % of a single-event request's CPU,
a lock per record, a wake-up of the loop from another thread per poll, and up to 5 ms
(Python's switch interval) waiting for the GIL while the loop was busy. No request ever
flushes: a batch of records shares librdkafka's batching and their acknowledgements
arrive together. (confluent-kafka's own ``AIOProducer`` adds a buffering layer with a
timeout on top, which is latency the API does not want.)
"""

from __future__ import annotations

import asyncio
import logging
import time
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

# How often delivery reports are served while records await them: at most this long is
# added to an acknowledgement's way back to its caller; a poll that finds nothing costs
# ~2 us. Under load the loop is busy and polls when it comes to it, with more reports each.
_POLL_SECONDS = 0.001
# ... and while nothing is in flight, for librdkafka's error callbacks and log lines.
_IDLE_POLL_SECONDS = 0.1


# A record to produce: key, value, headers.
Outgoing = tuple[bytes, bytes, KafkaHeaders]


class Delivery(NamedTuple):
    """Where an acknowledged record landed (a tuple: one is made per record)."""

    topic: str
    partition: int
    offset: int


class AsyncProducer:
    """Owns one librdkafka producer; ``start()`` and ``close()`` bound it, both on the
    event loop that then sends through it."""

    def __init__(self, config: ClientConfig, max_in_flight: int) -> None:
        self._config = config
        self._max_in_flight = max_in_flight
        self._producer: Producer | None = None
        self._poller: asyncio.Handle | None = None
        self._idle = True  # the next poll is the idle one
        self._fatal: KafkaError | None = None

    def start(self) -> None:
        # librdkafka's own lines (a broker gone, a coordinator loading) go through logging,
        # served by poll, so they come out in the process's format (JSON too) rather than
        # raw on stderr.
        config = {**self._config, "error_cb": self._on_error, "logger": _librdkafka_log}
        self._producer = Producer(config)
        self._poller = asyncio.get_running_loop().call_soon(self._poll)

    async def close(self, grace: float = 30.0) -> int:
        """Stop polling, wait for what is buffered to be delivered (at most ``grace``
        seconds); returns the records still undelivered."""
        producer = self._producer
        if producer is None:
            return 0
        if self._poller is not None:
            self._poller.cancel()
            self._poller = None
        # Polled from here, not flushed on a thread: the reports settle their futures on
        # this loop, as they always do.
        deadline = time.monotonic() + grace
        while len(producer) and time.monotonic() < deadline:
            producer.poll(0)
            await asyncio.sleep(_POLL_SECONDS)
        producer.poll(0)
        self._producer = None
        return len(producer)

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
                    on_delivery=partial(_delivered, pending, index),
                )
            except BufferError:
                pending.record(index, ProducerBusyError("the producer's buffer is full"))
            except KafkaException as exc:
                pending.record(index, DeliveryError.from_kafka(exc.args[0], topic))
        if self._idle:
            self._hurry()
        return await pending.done

    def _require_started(self) -> Producer:
        if self._producer is None:
            raise ProducerBusyError("the producer is not running")
        return self._producer

    def _poll(self) -> None:
        """Serve the delivery reports (their callbacks run here, on the loop), then again
        soon if records are in flight, later if not."""
        producer = self._producer
        if producer is None:
            return
        try:
            producer.poll(0)
        finally:  # a callback that raised must not stop the polling (every caller would hang)
            self._idle = not len(producer)
            delay = _IDLE_POLL_SECONDS if self._idle else _POLL_SECONDS
            self._poller = asyncio.get_running_loop().call_later(delay, self._poll)

    def _hurry(self) -> None:
        """Records went out while the poll was the idle one: poll soon instead."""
        if self._poller is not None:
            self._poller.cancel()
        self._idle = False
        self._poller = asyncio.get_running_loop().call_later(_POLL_SECONDS, self._poll)

    def _on_error(self, err: KafkaError) -> None:
        if err.fatal():
            self._fatal = err
            log.error("fatal producer error code=%s reason=%s", err.name(), err.str())
        else:
            log.warning("producer error code=%s reason=%s", err.name(), err.str())


def _delivered(pending: _Pending, index: int, err: KafkaError | None, msg: Message) -> None:
    """A delivery report, served by a poll on the loop."""
    if err is not None:
        pending.record(index, DeliveryError.from_kafka(err, msg.topic() or ""))
    else:
        pending.record(index, Delivery(msg.topic() or "", msg.partition() or 0, msg.offset() or 0))


class _Pending:
    """One ``send_all`` call's records, until the last of them is acknowledged (all on the
    event loop's thread: produce, its refusals and the delivery reports)."""

    __slots__ = ("done", "remaining", "results")

    def __init__(self, done: asyncio.Future[list[Delivery | DeliveryError]], count: int) -> None:
        self.done = done
        self.remaining = count
        self.results: list[Delivery | DeliveryError] = [ProducerBusyError("not sent")] * count

    def record(self, index: int, result: Delivery | DeliveryError) -> None:
        """Store one record's outcome; the last one outstanding settles the future."""
        self.results[index] = result
        self.remaining -= 1
        if self.remaining == 0 and not self.done.done():
            self.done.set_result(self.results)
