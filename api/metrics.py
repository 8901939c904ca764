"""The API's Prometheus metrics, in a registry of the app's own (one per app instance)."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

__all__ = ["ApiMetrics"]


class ApiMetrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.requests = Counter(
            "conveyor_api_requests",
            "HTTP requests by route and status.",
            ["route", "method", "status"],
            registry=self.registry,
        )
        self.accepted_events = Counter(
            "conveyor_api_accepted_events",
            "Events acknowledged by Kafka and answered 202.",
            ["stream"],
            registry=self.registry,
        )
        self.produce_seconds = Histogram(
            "conveyor_api_produce_seconds",
            "From handing a request's events to the producer to the last acknowledgement.",
            ["stream"],
            registry=self.registry,
            buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5),
        )
        self.producer_queue = Gauge(
            "conveyor_api_producer_queue_depth",
            "Records buffered in the producer or awaiting acknowledgement.",
            registry=self.registry,
        )
        self.waiting = Gauge(
            "conveyor_api_waiting_requests",
            "Requests waiting for their jobs to end (GET /v1/jobs/{id}?wait=).",
            registry=self.registry,
        )
        self.overloaded = Counter(
            "conveyor_api_overloaded",
            "Requests answered 503, by reason.",
            ["stream", "reason"],
            registry=self.registry,
        )
        self.backlog = Gauge(
            "conveyor_api_stream_backlog",
            "Consumer lag of the workers' group, by stream.",
            ["stream"],
            registry=self.registry,
        )
