"""The worker's Prometheus metrics, in a registry of its own, counted once per settled batch.

Names follow the API's (``conveyor_api_*``): ``conveyor_worker_*``, by stream. Each
batch is counted after it settled, from what :class:`SettledBatch` recorded, so the
handling path itself only reads the clock; consumer lag is measured in the
background (:class:`AssignedLag`), never by a scrape.
"""

from __future__ import annotations

import bisect
import threading
from collections.abc import Callable, Iterable, Iterator, Sequence

from prometheus_client import CollectorRegistry, Counter, Histogram
from prometheus_client.core import GaugeMetricFamily, HistogramMetricFamily
from prometheus_client.utils import floatToGoString

from conveyor.kafka.events import accepted_at
from conveyor.monitoring.lag import GroupLag
from conveyor.processors.stream_processor import SettledBatch
from conveyor.store import JobStatus

__all__ = ["AssignedLag", "BatchHistogram", "WorkerMetrics"]

# Seconds, from a few milliseconds (a handler that does little) to minutes (a retry
# tier's backoff, or a backlog, between acceptance and result).
_LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60)
_END_TO_END_BUCKETS = (0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 900, 3600)
# A bucket's bound as prometheus_client's own histograms write it (untyped there).
_bound_label: Callable[[float], str] = floatToGoString

_OUTCOMES = {
    JobStatus.SUCCEEDED: "succeeded",
    JobStatus.FAILED: "failed",
    JobStatus.DEAD_LETTERED: "dead_lettered",
    JobStatus.PROCESSING: "retried",  # moved to a retry tier
    JobStatus.CANCELLED: "cancelled",  # stopped while it ran (the API's cancel moved it)
}


class WorkerMetrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.events = Counter(
            "conveyor_worker_events",
            "Records consumed, by what became of them: succeeded, failed, dead_lettered, "
            "retried (moved to a retry tier), cancelled (stopped while it ran) or duplicate "
            "(already final, cancelled before it ran included: not applied again).",
            ["stream", "outcome"],
            registry=self.registry,
        )
        self.processing_seconds = BatchHistogram(
            "conveyor_worker_processing_seconds",
            "Time in the stream's handler per event, retries in place included.",
            _LATENCY_BUCKETS,
        )
        self.end_to_end_seconds = BatchHistogram(
            "conveyor_worker_end_to_end_seconds",
            "From the event's ce_time (when the API accepted it) to its result being "
            "committed in the result store.",
            _END_TO_END_BUCKETS,
        )
        self.registry.register(self.processing_seconds)
        self.registry.register(self.end_to_end_seconds)
        self.sink_seconds = Histogram(
            "conveyor_worker_sink_seconds",
            "Result-store transactions settling a batch: job statuses, outputs, aggregates.",
            ["stream"],
            registry=self.registry,
            buckets=_LATENCY_BUCKETS,
        )
        self.retries = Counter(
            "conveyor_worker_retries",
            "Further attempts at events: in_place (strict streams) or retry_topic (relaxed).",
            ["stream", "kind"],
            registry=self.registry,
        )
        self.dead_letters = Counter(
            "conveyor_worker_dead_letters",
            "Events sent to the stream's dead-letter topic, by error type.",
            ["stream", "error"],
            registry=self.registry,
        )
        self.lag = AssignedLag()
        self.registry.register(self.lag)

    def observe(self, batch: SettledBatch) -> None:
        """Count one settled batch (a :class:`BatchObserver`)."""
        stream = batch.stream
        counts = dict.fromkeys(_OUTCOMES.values(), 0)
        retried_in_place = 0
        handling: list[float] = []
        end_to_end: list[float] = []
        settled = batch.settled_ns / 1e9
        for outcome in batch.outcomes:
            if outcome.ended_ns:
                handling.append((outcome.ended_ns - outcome.began_ns) / 1e9)
                retried_in_place += max(outcome.attempts - outcome.event.attempts - 1, 0)
            event = outcome.event
            if outcome.status is JobStatus.CANCELLED:
                counts["cancelled"] += 1
                continue
            if event.event_id not in batch.moved:
                continue
            counts[_OUTCOMES[outcome.status]] += 1
            if outcome.status is JobStatus.DEAD_LETTERED:
                self.dead_letters.labels(stream, type(outcome.error).__name__).inc()
            if (at := accepted_at(event)) is not None:
                end_to_end.append(max(settled - at.timestamp(), 0.0))
        self.processing_seconds.observe(stream, handling)
        self.end_to_end_seconds.observe(stream, end_to_end)
        counts["duplicate"] = batch.records - sum(counts.values())
        for outcome_name, count in counts.items():
            if count:
                self.events.labels(stream, outcome_name).inc(count)
        if retried_in_place:
            self.retries.labels(stream, "in_place").inc(retried_in_place)
        if counts["retried"]:
            self.retries.labels(stream, "retry_topic").inc(counts["retried"])
        if batch.moved:
            self.sink_seconds.labels(stream).observe(
                (batch.settled_ns - batch.settle_began_ns) / 1e9
            )


class BatchHistogram:
    """A histogram by ``stream`` that takes a settled batch's values in one step.

    prometheus_client's ``Histogram.observe`` takes two locks a value (its sum and its
    bucket): two histograms cost a worker ~3 µs of CPU an event. This one counts a batch
    without a lock and adds the counts under one, and reads the same as a ``Histogram``
    with a ``stream`` label (``_bucket``, ``_count``, ``_sum``)."""

    def __init__(self, name: str, documentation: str, buckets: Sequence[float]) -> None:
        self._name = name
        self._documentation = documentation
        self._bounds = [*buckets, float("inf")]
        self._lock = threading.Lock()
        # Per stream: each bucket's own count (not yet cumulative), and the values' sum.
        self._streams: dict[str, tuple[list[int], list[float]]] = {}

    def observe(self, stream: str, values: Iterable[float]) -> None:
        counts = [0] * len(self._bounds)
        total = 0.0
        for value in values:
            counts[bisect.bisect_left(self._bounds, value)] += 1
            total += value
        if not any(counts):
            return
        with self._lock:
            kept, kept_sum = self._streams.setdefault(stream, ([0] * len(self._bounds), [0.0]))
            for index, count in enumerate(counts):
                kept[index] += count
            kept_sum[0] += total

    def collect(self) -> Iterator[HistogramMetricFamily]:
        family = HistogramMetricFamily(self._name, self._documentation, labels=["stream"])
        with self._lock:
            streams = {s: (list(c), total[0]) for s, (c, total) in self._streams.items()}
        for stream, (counts, total) in sorted(streams.items()):
            cumulative, buckets = 0, []
            for bound, count in zip(self._bounds, counts, strict=True):
                cumulative += count
                buckets.append((_bound_label(bound), cumulative))
            family.add_metric([stream], buckets, total)
        yield family


class AssignedLag:
    """``conveyor_worker_consumer_lag{topic,partition}``: the group's lag on the partitions
    this worker holds, as last measured (see ``processors/telemetry.py``). Summed over
    workers it is the group's lag, each partition counted once; a partition that moved
    to another worker leaves this one's metrics with the next measurement."""

    def __init__(self) -> None:
        self._measured: GroupLag = {}

    def update(self, measured: GroupLag) -> None:
        self._measured = measured

    def collect(self) -> Iterator[GaugeMetricFamily]:
        family = GaugeMetricFamily(
            "conveyor_worker_consumer_lag",
            "Records of the partition the workers' group has not committed yet, on the "
            "partitions this worker holds.",
            labels=["topic", "partition"],
        )
        for (topic, partition), measured in sorted(self._measured.items()):
            family.add_metric([topic, str(partition)], measured.lag)
        yield family
