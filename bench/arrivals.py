"""The benchmarks' reader: when each output record became readable, stamped one by one.

Every end-to-end latency (conveyor's and each raw loop's) stops its clock here, so the
reader must add as little as it can and the same to every side. It reads the output
topic ``read_committed`` in a thread of its own and stamps each record with the wall
clock as ``poll()`` hands it over. ``consume(n, timeout)`` would hand a batch over only
once it holds ``n`` records or the timeout has passed, and stamp every record of it with
the batch's end: at 1,000 records/s, ``consume(500, timeout=0.1)`` added ~50 ms to the
mean of both sides. ``poll()`` returns as soon as one record is in the consumer's queue.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Collection
from types import TracebackType
from typing import Self

from confluent_kafka import OFFSET_BEGINNING, Consumer, Message, TopicPartition

from conveyor.config import Settings

__all__ = ["Arrivals", "header"]


class Arrivals:
    """``with Arrivals(settings, topic) as arrivals: ...; arrivals.wait(ids)``: the
    wall-clock time each record (by its ``ce_id`` header) became readable on ``topic``."""

    def __init__(self, settings: Settings, topic: str) -> None:
        self._settings = settings
        self._topic = topic
        self._at: dict[str, float] = {}
        self._stop = threading.Event()
        # What a caller waits for, and the sign it has all come: the reader thread keeps
        # both, so a waiting caller sleeps rather than taking the GIL from it to look.
        self._lock = threading.Lock()
        self._awaited: set[str] = set()
        self._all_in = threading.Event()

    def __enter__(self) -> Self:
        self._consumer = Consumer(
            {
                **self._settings.kafka.librdkafka_config(),
                "group.id": "conveyor-bench-reader",
                "isolation.level": "read_committed",
                "enable.auto.commit": "false",
                # A fetch is answered as soon as one byte is readable (fetch.min.bytes 1);
                # the rest of the time it waits at most this long, so no record waits on
                # a fetch the broker was slow to wake.
                "fetch.wait.max.ms": "5",
            }
        )
        topic = self._topic
        partitions = self._consumer.list_topics(topic, timeout=10).topics[topic].partitions
        self._consumer.assign([TopicPartition(topic, p, OFFSET_BEGINNING) for p in partitions])
        self._thread = threading.Thread(target=self._read, name="bench-reader", daemon=True)
        self._thread.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._stop.set()
        self._thread.join()
        self._consumer.close()

    def wait(self, ids: Collection[str], timeout: float = 120.0) -> dict[str, float]:
        """When each of ``ids`` became readable, once all have (or an error naming how
        many did not within ``timeout`` seconds)."""
        with self._lock:
            self._awaited = set(ids).difference(self._at)
            if self._awaited:
                self._all_in.clear()
            else:
                self._all_in.set()
        if not self._all_in.wait(timeout):
            with self._lock:
                missing = len(self._awaited)
            raise RuntimeError(f"{missing} of {len(ids)} records did not reach {self._topic}")
        return {i: self._at[i] for i in ids}

    def _read(self) -> None:
        poll, at = self._consumer.poll, self._at
        while not self._stop.is_set():
            msg = poll(0.1)
            # Stamped before anything else is done with it: the clock stops at hand-over.
            now = time.time()
            if msg is None or msg.error() is not None:
                continue
            key = header(msg, "ce_id") or ""
            with self._lock:
                at.setdefault(key, now)
                awaited = self._awaited
                if key in awaited:
                    awaited.discard(key)
                    if not awaited:
                        self._all_in.set()


def header(msg: Message, name: str) -> str | None:
    """Header ``name`` of ``msg`` as text (the first, if it is there more than once)."""
    headers = msg.headers() or []
    for key, value in headers.items() if isinstance(headers, dict) else headers:
        if key == name and value is not None:
            return value.decode() if isinstance(value, bytes) else value
    return None
