"""What the API's routes share: settings, streams, auth, metrics and the running parts."""

from __future__ import annotations

from dataclasses import dataclass, field

from conveyor.api.auth import Authenticator
from conveyor.api.body import EventReader
from conveyor.api.changes import ChangeFollowers
from conveyor.api.exceptions import OverloadedError
from conveyor.api.ingest import Ingestor, StreamIngest
from conveyor.api.jobwriter import JobWriter
from conveyor.api.metrics import ApiMetrics
from conveyor.api.monitor import Monitor
from conveyor.api.tracing import ApiTracing
from conveyor.api.waiting import JobWatcher
from conveyor.config import Settings
from conveyor.kafka.changes import ChangeFeedWriter
from conveyor.producers.async_producer import AsyncProducer
from conveyor.schemas.models import event_type

__all__ = ["AppState", "Running"]


@dataclass(frozen=True)
class Running:
    """The parts that talk to Kafka, the registry and the store; made in the lifespan."""

    ingestor: Ingestor
    producer: AsyncProducer
    monitor: Monitor
    jobs: JobWriter
    watcher: JobWatcher
    feeds: dict[str, ChangeFeedWriter]  # by stream: where its jobs' changes are published
    followers: ChangeFollowers


@dataclass
class AppState:
    settings: Settings
    streams: dict[str, StreamIngest]
    auth: Authenticator
    metrics: ApiMetrics = field(default_factory=ApiMetrics)
    tracing: ApiTracing | None = None  # None: tracing is off
    running: Running | None = None

    @classmethod
    def from_settings(cls, settings: Settings, tracing: ApiTracing | None = None) -> AppState:
        streams = {}
        for name, stream in settings.streams.items():
            if stream.internal:  # written by the workers alone: no route
                continue
            event = event_type(stream)
            reader = EventReader(event, settings.api.max_batch_items)
            streams[name] = StreamIngest(stream, event, reader)
        return cls(settings, streams, Authenticator(settings.api.keys), tracing=tracing)

    def require_running(self) -> Running:
        """The running parts, or a 503 while the API starts or stops."""
        if self.running is None:
            raise OverloadedError(
                "the API is starting or stopping", retry_after=1, reason="starting"
            )
        return self.running
