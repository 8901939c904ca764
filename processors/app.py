"""The Faust app: an agent per topic of each processed stream (its priority levels, retry
and delay tiers), the outbox relay and the schedules, both on the group's leader.

Agents consume raw bytes; decoding, handling and settling happen in
:class:`StreamProcessor`, publishing in :class:`OutboxRelay` on the group's leader.
Everything that touches the network before the first event (the result store's
tables, schema registration) is done by :func:`build_worker` before Faust starts.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from functools import partial
from typing import Any, TypeVar, cast

import faust
from faust.streams import Stream
from faust.types import ChannelT, EventT, StreamT

from conveyor.config import Settings, StreamDeclaration
from conveyor.kafka.changes import ChangeFeedWriter
from conveyor.kafka.credentials import broker_credentials
from conveyor.kafka.events import Consumed
from conveyor.processors.cancels import watch_cancels
from conveyor.processors.completion import finish
from conveyor.processors.consumer import WorkerApp
from conveyor.processors.delays import WaitingTier
from conveyor.processors.engine import Engine
from conveyor.processors.handler import HandlerContext, load_handler
from conveyor.processors.in_hand import in_hand
from conveyor.processors.outbox import OutboxRelay
from conveyor.processors.priorities import PriorityGate, Turns, level_ranks
from conveyor.processors.process_pool import ProcessPool, pool_size
from conveyor.processors.progress import ProgressWriter
from conveyor.processors.running import HandlerCall
from conveyor.processors.schedules import Scheduler, leader_schedules
from conveyor.processors.stream_processor import BatchObserver, StreamProcessor
from conveyor.processors.telemetry import WorkerTelemetry
from conveyor.processors.webhooks import WebhookOutbox
from conveyor.schemas import registry_client
from conveyor.schemas.serde import AvroDecoder, AvroEncoder, register_value_schema
from conveyor.store import JobStore

__all__ = ["Worker", "build_worker"]

log = logging.getLogger(__name__)

# How long the jobs of partitions taken away in a rebalance may run on before they are
# stopped: the group waits for this worker meanwhile (the next owner redoes them).
_REVOKE_GRACE = 5.0

T = TypeVar("T")


@dataclass
class Worker:
    app: faust.App
    engines: list[Engine]
    relay: OutboxRelay
    store: JobStore
    telemetry: WorkerTelemetry

    def close(self) -> None:
        """After Faust stopped: the handlers' connections, the relay, the store, telemetry."""
        for engine in self.engines:
            engine.close()
            engine.processor.close()
        self.relay.close()
        self.store.dispose()
        self.telemetry.close()


def build_worker(settings: Settings) -> Worker:
    """The worker's Faust app, with the result store and the schemas made ready."""
    store = JobStore(settings.database_url)
    store.create_schema()
    registry = registry_client(settings.schema_registry)
    telemetry = WorkerTelemetry.start(settings, store.engine.dialect.name)
    observers = telemetry.observers()
    handled = [stream for stream in settings.streams.values() if stream.handler]
    feeds = {
        stream.name: ChangeFeedWriter(stream, register_value_schema(registry, stream.change_feed))
        for stream in handled
    }
    progress = ProgressWriter(store, settings.workers.progress_interval_seconds, feeds)
    webhooks = _webhook_encoder(settings, registry)
    processors = [
        _processor(
            settings,
            stream,
            store,
            registry,
            observers,
            progress=progress,
            feed=feeds[stream.name],
            webhooks=webhooks,
        )
        for stream in handled
    ]
    # Set by each settle of this worker that wrote to the outbox.
    wrote = asyncio.Event()
    engines = [Engine(processor, wrote.set) for processor in processors]
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
        broker_max_poll_interval=workers.max_poll_interval_seconds,
        # The stream iterator takes records already queued without a wait per record.
        cython_optimizations=True,
        stream_buffer_maxsize=workers.buffer_size,
        # Faust hands a poll's records over one by one before it polls again: a record
        # fetched meanwhile for a higher priority level waits for at most this many. Below
        # a fifth of the buffer, a poll never overfills one past the mark where Faust stops
        # fetching its partitions (four fifths), so handing over never waits on an agent.
        broker_max_poll_records=max(1, min(workers.batch_size, workers.buffer_size // 5)),
    )
    app.level_ranks = level_ranks(p.context.stream for p in processors)

    async def give_up(partitions: set[tuple[str, int]] | None) -> None:
        grace = workers.stop_grace_seconds if partitions is None else _REVOKE_GRACE
        await asyncio.gather(*(engine.stop(partitions, grace) for engine in engines))

    app.give_up = give_up
    for engine in engines:
        stream = engine.processor.context.stream
        lanes = _lanes(engine)
        for tier, topic in enumerate(stream.consumed_topics):
            channel = app.topic(topic, key_serializer="raw", value_serializer="raw")
            agent = _agent(
                engine,
                topic,
                size=workers.batch_size,
                turns=lanes[topic][0],
                tier=lanes[topic][1],
            )
            app.agent(channel, name=f"conveyor.{stream.name}.{tier}")(agent)

    relay = OutboxRelay(settings, store)

    async def publish() -> None:
        """Run the relay while this worker leads the group (a new leader fences an old
        one): at once after each settle of this worker that wrote to the outbox, and every
        ``publish_interval_seconds`` for what else is there (claims' changes, and what the
        group's other workers wrote)."""
        while True:
            wrote.clear()  # before the round: what commits during it starts the next one
            if app.is_leader():
                if await relay.publish() >= relay.batch:
                    continue  # a backlog: keep going
            elif relay.publishing:
                await asyncio.to_thread(relay.close)
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(workers.publish_interval_seconds):
                    await wrote.wait()

    app.task(publish)
    app.task(progress.run)
    app.task(partial(watch_cancels, engines, store, workers.cancel_poll_seconds))
    scheduler = Scheduler.build(settings, store, partial(register_value_schema, registry))
    if scheduler is not None:
        app.task(leader_schedules(app.is_leader, scheduler))

    consumed = [topic for p in processors for topic in p.context.stream.consumed_topics]

    async def sample_lag() -> None:
        await telemetry.sample_lag(app.consumer.assignment, consumed)

    app.task(sample_lag)

    return Worker(app, engines, relay, store, telemetry)


def _processor(
    settings: Settings,
    stream: StreamDeclaration,
    store: JobStore,
    registry: Any,
    observers: list[BatchObserver],
    *,
    progress: ProgressWriter,
    feed: ChangeFeedWriter,
    webhooks: AvroEncoder | None,
) -> StreamProcessor:
    handler_path = stream.handler
    assert handler_path is not None
    pool = None
    if stream.executor == "process":
        pool = ProcessPool(settings, stream.name, pool_size())
        # One job per process: a job beyond would wait for a process with its clock running.
        stream = stream.model_copy(update={"concurrency": min(stream.concurrency, pool.size)})
    context = HandlerContext(settings, stream, store)
    handler = load_handler(handler_path)(context)
    encoders = {
        name: AvroEncoder(output.avro_schema, register_value_schema(registry, output))
        for name, output in stream.outputs.items()
    }
    decoder = AvroDecoder(stream.avro_schema, registry)
    call = HandlerCall(handler, stream.concurrency, pool)
    # Every stream's jobs may have webhooks, but the deliveries' own.
    deliveries = None
    if webhooks is not None and stream.name != settings.webhooks.stream:
        deliveries = WebhookOutbox(settings, stream, webhooks)
    return StreamProcessor(
        context,
        handler,
        decoder,
        encoders,
        observers,
        call=call,
        report=progress.report,
        feed=feed,
        webhooks=deliveries,
    )


def _webhook_encoder(settings: Settings, registry: Any) -> AvroEncoder | None:
    """The encoder of the webhooks stream's deliveries, registered; None if no stream
    delivers webhooks (then no job has one)."""
    delivering = settings.streams.get(settings.webhooks.stream)
    if delivering is None or delivering.handler is None:
        return None
    return AvroEncoder(delivering.avro_schema, register_value_schema(registry, delivering))


def _lanes(engine: Engine) -> dict[str, tuple[Turns | None, WaitingTier | None]]:
    """Per topic of the stream: its level's turns, if it has levels; its tier, if it waits."""
    stream = engine.processor.context.stream
    levels = PriorityGate(stream.priorities).turns if stream.priorities else []
    lanes: dict[str, tuple[Turns | None, WaitingTier | None]] = {
        topic: (levels[rank] if levels else None, None)
        for rank, topic in enumerate(stream.level_topics)
    }
    lanes.update((topic, (None, WaitingTier(engine, None))) for topic in stream.retry_topics)
    if stream.delays is not None:
        holds = zip(stream.delay_topics, stream.delays.tiers, strict=True)
        lanes.update((topic, (None, WaitingTier(engine, hold))) for topic, hold in holds)
    return lanes


def _agent(
    engine: Engine,
    topic: str,
    *,
    size: int,
    turns: Turns | None,
    tier: WaitingTier | None,
) -> Callable[[StreamT[bytes]], Awaitable[None]]:
    """The agent of one topic. The stream's own topic (its top priority level) hands each
    batch to the engine and goes on; its tiers and lower levels hold their batch until
    it settled, as they wait between batches (for a record's time, or their turn).

    Either takes its records in batches of what is in hand (``processors/in_hand.py``):
    a batch is claimed and settled in one statement each (one record at a time, claims
    and settles shrank to a few records and cost a worker a third of its throughput),
    and no record waits for a batch to fill. Acks are manual (``noack``): a record
    handed over is released to Faust by the engine once settled, a held batch here."""
    holds_batches = tier is not None or (turns is not None and turns.rank > 0)

    def batches(stream: StreamT[bytes]) -> AsyncIterator[list[EventT[bytes]]]:
        # noack is Stream's, not in the StreamT protocol.
        manual = cast(Stream[bytes], stream).noack()
        if turns is not None:
            # A held batch is in hand until settled; records handed over, while they run.
            working = (lambda: False) if holds_batches else lambda: engine.held_on((topic,))
            turns.watch(manual, working)
        channel = cast(ChannelT[bytes], manual.channel)
        return in_hand(manual.events(), channel.empty, size)

    async def hand_over(stream: StreamT[bytes]) -> None:
        async for events in batches(stream):
            await engine.room()
            for event in events:
                engine.accept(_consumed(event.message), event.ack)
            if turns is not None:
                turns.handed(len(events))

    async def hold(stream: StreamT[bytes]) -> None:
        async for events in batches(stream):
            batch = [_consumed(event.message) for event in events]
            if turns is not None:
                turns.took(len(batch))
            try:
                if tier is not None:
                    await tier.handle(batch)
                elif turns is not None:
                    await finish(turns.run(batch, engine.process))
            finally:
                # Acked as the agent lets go of it, also on the way out, as Faust's
                # take_events did: a tier first puts back what is left of its batch, and a
                # level's batch settles whole (``finish``).
                for event in events:
                    event.ack()
            if turns is not None:
                # After the batch, not before the next: a batch held while it waits
                # would be acked unprocessed if the worker stopped meanwhile.
                await turns.done()

    return hold if holds_batches else hand_over


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
        message.timestamp,
    )
