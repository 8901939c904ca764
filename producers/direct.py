"""Events written straight to a stream's topic, as the API would write them, without it.

For what must bypass the API: the benchmarks' raw baselines and preloaded topics, and
tests that put records on a topic the API would have refused. The records carry the
same key, Avro value and CloudEvents headers the API gives them.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from datetime import UTC, datetime
from types import TracebackType
from typing import Any, Self

from confluent_kafka import KafkaError, Message, Producer

from conveyor.config import Settings, StreamDeclaration
from conveyor.kafka.config import producer_config
from conveyor.kafka.identity import child_traceparent, cloudevent_headers
from conveyor.producers.exceptions import DeliveryError
from conveyor.schemas import registry_client
from conveyor.schemas.serde import AvroEncoder, register_value_schema

__all__ = ["DirectProducer"]


class DirectProducer:
    """A bare confluent-kafka producer for one stream, with conveyor's producer config.

    Entering registers the stream's schema; :meth:`send` is only encoding and producing,
    so it can be timed as the raw baseline of what the API does.
    """

    def __init__(self, settings: Settings, stream: StreamDeclaration) -> None:
        self._settings = settings
        self._stream = stream
        self._failures: list[KafkaError] = []

    def __enter__(self) -> Self:
        with registry_client(self._settings.schema_registry) as registry:
            schema_id = register_value_schema(registry, self._stream)
        self._encoder = AvroEncoder(self._stream.avro_schema, schema_id)
        self._producer = Producer(producer_config(self._settings.kafka))
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._producer.flush(30)

    def send(self, events: Sequence[dict[str, Any]], rate: float | None = None) -> list[float]:
        """Produce ``events`` (at most ``rate`` a second) and wait until every one is
        acknowledged; returns the wall-clock time each was produced."""
        stream = self._stream
        headers_of = cloudevent_headers(
            f"/conveyor/direct/{stream.name}", "direct", datetime.now(UTC)
        )
        sent: list[float] = []
        began = time.monotonic()
        for n, event in enumerate(events):
            if rate is not None and (wait := began + n / rate - time.monotonic()) > 0:
                self._producer.poll(wait)
            value = self._encoder.encode(event)
            key = str(event[stream.key]).encode()
            headers = headers_of(event["event_id"], child_traceparent(None))
            sent.append(time.time())
            while True:
                try:
                    self._producer.produce(
                        stream.topic,
                        value=value,
                        key=key,
                        headers=headers,
                        on_delivery=self._delivered,
                    )
                    break
                except BufferError:
                    self._producer.poll(0.01)  # the local queue is full: let deliveries drain
            self._producer.poll(0)
        undelivered = self._producer.flush(120)
        if undelivered or self._failures:
            code = self._failures[0].name() if self._failures else "_MSG_TIMED_OUT"
            raise DeliveryError(
                f"{stream.topic}: {len(self._failures) + undelivered} of {len(events)} "
                f"records not delivered: {[f.str() for f in self._failures[:3]]}",
                code,
            )
        return sent

    def _delivered(self, err: KafkaError | None, msg: Message) -> None:
        # Like the API, the baseline confirms every record's delivery.
        if err is not None:
            self._failures.append(err)
