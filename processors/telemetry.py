"""What a worker tells its operators: ``/metrics`` on a port of its own, the consumer lag
of the partitions it holds, and its spans when tracing is configured.

Several workers on one host each serve their own ``/metrics``: a port already taken
(by another worker) falls back to a free one, and the address is logged.
"""

from __future__ import annotations

import asyncio
import errno
import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from faust.types import TP
from prometheus_client import CollectorRegistry, start_http_server

from conveyor.config import Settings
from conveyor.kafka.admin import admin_client
from conveyor.kafka.exceptions import KafkaQueryError
from conveyor.monitoring.exceptions import MonitoringError
from conveyor.monitoring.lag import measure_lag
from conveyor.processors.exceptions import ProcessorError
from conveyor.processors.metrics import WorkerMetrics
from conveyor.processors.stream_processor import BatchObserver
from conveyor.processors.tracing import EventTracing
from conveyor.runtime.tracing import tracer_provider_from

if TYPE_CHECKING:
    from wsgiref.simple_server import WSGIServer

    from opentelemetry.sdk.trace import TracerProvider

__all__ = ["WorkerTelemetry"]

log = logging.getLogger(__name__)

# Seconds one lag measurement may take: a measurement still running when the worker stops
# (Kafka gone) holds its exit until it gives up.
_LAG_TIMEOUT = 5.0


@dataclass
class WorkerTelemetry:
    settings: Settings
    database: str  # the result store's kind (sqlite, postgresql), for the spans
    metrics: WorkerMetrics
    server: WSGIServer
    provider: TracerProvider | None

    @classmethod
    def start(cls, settings: Settings, database: str) -> WorkerTelemetry:
        """Serve ``/metrics`` from now on, and trace if configured."""
        metrics = WorkerMetrics()
        workers = settings.workers
        server = _serve(metrics.registry, workers.metrics_host, workers.metrics_port)
        provider = tracer_provider_from(settings.telemetry, "conveyor-worker")
        telemetry = cls(settings, database, metrics, server, provider)
        log.info("worker metrics url=%s", telemetry.metrics_url)
        return telemetry

    @property
    def metrics_url(self) -> str:
        return f"http://{self.settings.workers.metrics_host}:{self.server.server_port}/metrics"

    def observers(self) -> list[BatchObserver]:
        """What each stream's processor tells of its settled batches."""
        observers: list[BatchObserver] = [self.metrics.observe]
        if self.provider is not None:
            tracer = self.provider.get_tracer("conveyor.processors")
            group = self.settings.workers.group_id
            observers.append(EventTracing(tracer, group, self.database).observe)
        return observers

    async def sample_lag(
        self, assignment: Callable[[], Iterable[TP]], topics: Iterable[str]
    ) -> None:
        """Measure the lag of the partitions ``assignment()`` holds, every
        ``workers.lag_interval_seconds``, until cancelled; a failed measurement shows no lag
        rather than an old one."""
        workers = self.settings.workers
        consumed = set(topics)
        admin = admin_client(self.settings.kafka)
        while True:
            held = {(tp.topic, tp.partition) for tp in assignment() if tp.topic in consumed}
            measured = {}
            if held:
                try:
                    topics_held = sorted({t for t, _ in held})
                    lag = await asyncio.to_thread(
                        measure_lag, admin, workers.group_id, topics_held, _LAG_TIMEOUT
                    )
                    measured = {key: lag[key] for key in held if key in lag}
                except (KafkaQueryError, MonitoringError) as exc:
                    log.warning("lag measurement failed error=%s", exc)
            self.metrics.lag.update(measured)
            await asyncio.sleep(workers.lag_interval_seconds)

    def close(self) -> None:
        """Stop serving and export the spans still queued."""
        self.server.shutdown()
        self.server.server_close()
        if self.provider is not None:
            self.provider.shutdown()


def _serve(registry: CollectorRegistry, host: str, port: int) -> WSGIServer:
    try:
        server, _ = start_http_server(port, host, registry)
    except OSError as exc:
        if exc.errno == errno.EADDRINUSE and port:  # another worker on this host has it
            log.warning("metrics port taken; serving on a free one wanted=%d", port)
            return _serve(registry, host, 0)
        raise ProcessorError(f"cannot serve metrics on {host}:{port}: {exc.strerror}") from exc
    return server
