"""The Faust app: one agent per processed stream (and per retry tier), and the outbox relay.

Agents consume raw bytes; decoding, handling and settling happen in
:class:`StreamProcessor`, publishing in :class:`OutboxRelay` on the group's leader.
Everything that touches the network before the first event (the result store's
tables, schema registration) is done by :func:`build_worker` before Faust starts.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar, cast

import faust
from faust.streams import Stream
from faust.types import StreamT

from conveyor.config import Settings, StreamDeclaration
from conveyor.processors.consumer import WorkerApp
from conveyor.processors.handler import HandlerContext, load_handler
from conveyor.processors.kafka_auth import broker_credentials
from conveyor.processors.outbox import OutboxRelay
from conveyor.processors.records import NOT_BEFORE, Consumed
from conveyor.processors.runner import StreamProcessor
from conveyor.schemas import registry_client
from conveyor.schemas.serde import AvroDecoder, AvroEncoder, register_value_schema
from conveyor.store import JobStore

__all__ = ["Worker", "build_worker"]

log = logging.getLogger(__name__)

T = TypeVar("T")


@dataclass
class Worker:
    app: faust.App
    processors: list[StreamProcessor]
    relay: OutboxRelay
    store: JobStore

    def close(self) -> None:
        """After Faust stopped: the handlers' connections, the relay, the store."""
        for processor in self.processors:
            processor.close()
        self.relay.close()
        self.store.dispose()


def build_worker(settings: Settings) -> Worker:
    """The worker's Faust app, with the result store and the schemas made ready."""
    store = JobStore(settings.database_url)
    store.create_schema()
    registry = registry_client(settings.schema_registry)
    processors = [
        _processor(settings, stream, store, registry)
        for stream in settings.streams.values()
        if stream.handler
    ]
    workers = settings.workers
    app = WorkerApp(
        workers.group_id,
        broker=[f"kafka://{server}" for server in settings.kafka.bootstrap_servers.split(",")],
        broker_credentials=broker_credentials(settings.kafka),
        datadir=str(settings.data_dir / "faust"),
        web_enabled=False,
        consumer_auto_offset_reset="earliest",
        broker_session_timeout=workers.session_timeout_seconds,
        broker_heartbeat_interval=workers.heartbeat_seconds,
        # The agents hold a batch while it settles; Faust must not call that a stall.
        broker_max_poll_interval=max(300.0, workers.session_timeout_seconds * 10),
        # The stream iterator takes records already queued without a wait per record.
        cython_optimizations=True,
        stream_buffer_maxsize=workers.buffer_size,
    )
    for processor in processors:
        stream = processor.context.stream
        for tier, topic in enumerate(stream.consumed_topics):
            channel = app.topic(topic, key_serializer="raw", value_serializer="raw")
            agent = _agent(processor, workers.batch_size, workers.batch_seconds, delayed=tier > 0)
            app.agent(channel, name=f"conveyor.{stream.name}.{tier}")(agent)

    relay = OutboxRelay(settings, store)

    async def publish() -> None:
        """Run the relay while this worker leads the group; a new leader fences an old one."""
        while True:
            if app.is_leader():
                if await asyncio.to_thread(relay.publish):
                    continue  # a backlog: keep going
            else:
                await asyncio.to_thread(relay.close)
            await asyncio.sleep(workers.publish_interval_seconds)

    app.task(publish)

    return Worker(app, processors, relay, store)


def _processor(
    settings: Settings, stream: StreamDeclaration, store: JobStore, registry: Any
) -> StreamProcessor:
    assert stream.handler is not None
    context = HandlerContext(settings, stream, store)
    handler = load_handler(stream.handler)(context)
    encoders = {
        name: AvroEncoder(output.avro_schema, register_value_schema(registry, output))
        for name, output in stream.outputs.items()
    }
    return StreamProcessor(context, handler, AvroDecoder(stream.avro_schema, registry), encoders)


def _agent(
    processor: StreamProcessor, size: int, within: float, delayed: bool
) -> Callable[[StreamT[bytes]], Awaitable[None]]:
    async def run(stream: StreamT[bytes]) -> None:
        # take_events is Stream's, not in the StreamT protocol.
        async for events in cast(Stream[bytes], stream).take_events(size, within=within):
            batch = [_consumed(event.message) for event in events]
            if delayed:
                await _until_due(batch)
            await _finish(processor.process(batch))

    return run


def _consumed(message: Any) -> Consumed:
    headers = message.headers
    # A dict where Faust made the message itself; aiokafka's are a sequence of pairs.
    # (Not ``Mapping``: an ABC's isinstance check cost more than the rest of this.)
    if isinstance(headers, dict):
        headers = list(headers.items())
    return Consumed(
        message.topic,
        message.partition,
        message.offset,
        message.key,
        message.value,
        list(headers or ()),
    )


async def _until_due(batch: Sequence[Consumed]) -> None:
    """A retry tier's records wait for their time; they arrive in that order."""
    due = 0.0
    for record in batch:
        for name, value in record.headers:
            if name == NOT_BEFORE and value is not None:
                due = max(due, int(value) / 1000)
    if (wait := due - time.time()) > 0:
        await asyncio.sleep(wait)


async def _finish(work: Awaitable[T]) -> T:
    """Await ``work`` to its end even if this task is cancelled meanwhile (then re-raise).

    Faust cancels agents on shutdown and acks the events of a ``take`` batch as the
    generator closes; a half-settled batch would be acked, so it is finished first.
    """
    task = asyncio.ensure_future(work)
    cancelled = False
    while not task.done():
        try:
            await asyncio.shield(task)
        except asyncio.CancelledError:
            cancelled = True
    if cancelled:
        raise asyncio.CancelledError
    return task.result()
