"""The ingest API: assembles the routers and runs the parts they share for its lifetime."""

from __future__ import annotations

import asyncio
import ipaddress
import logging
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager, nullcontext
from typing import Any

from fastapi import FastAPI, Request
from fastapi.openapi.utils import get_openapi
from fastapi.responses import JSONResponse
from opentelemetry.trace import TracerProvider
from starlette.types import ASGIApp, Receive, Scope, Send

from conveyor import __version__
from conveyor.api.cancel import JobCanceller
from conveyor.api.changes import ChangeFollowers
from conveyor.api.event_route import error_response, event_path
from conveyor.api.exceptions import ApiError, UnsafeBindError
from conveyor.api.ingest import Ingestor
from conveyor.api.jobwriter import JobWriter
from conveyor.api.middleware import RequestMetrics
from conveyor.api.monitor import Monitor
from conveyor.api.routes_changes import changes_router
from conveyor.api.routes_events import add_unknown_stream_route, event_paths, event_routes
from conveyor.api.routes_health import health_router
from conveyor.api.routes_jobs import JobViews, jobs_router
from conveyor.api.state import AppState, Running
from conveyor.api.tracing import ApiTracing
from conveyor.api.waiting import JobWatcher
from conveyor.config import ApiSettings, Settings
from conveyor.dashboard import Dashboard
from conveyor.kafka.admin import admin_client
from conveyor.kafka.changes import ChangeFeedWriter
from conveyor.kafka.config import producer_config
from conveyor.ops.topics import require_topics
from conveyor.producers.async_producer import AsyncProducer
from conveyor.runtime.heap import freeze_startup_objects
from conveyor.runtime.tracing import tracer_provider_from
from conveyor.schemas import registry_client
from conveyor.schemas.models import json_schema
from conveyor.schemas.serde import AvroEncoder, register_value_schema
from conveyor.store import IdempotencyKeys, JobStore

__all__ = ["check_bind", "create_app"]

log = logging.getLogger(__name__)


def check_bind(api: ApiSettings) -> None:
    """Refuse to listen beyond loopback when no API keys are configured."""
    if api.keys:
        return
    host = "127.0.0.1" if api.host == "localhost" else api.host
    try:
        loopback = ipaddress.ip_address(host).is_loopback
    except ValueError:
        loopback = False
    if not loopback:
        raise UnsafeBindError(
            f"refusing to listen on {api.host} without API keys; configure api.keys "
            "(`conveyor api keygen`) or listen on 127.0.0.1"
        )


def create_app(settings: Settings, tracer_provider: TracerProvider | None = None) -> FastAPI:
    """The API for ``settings``; it connects to nothing until its lifespan starts.

    Its spans go to ``tracer_provider`` if given (a test's in-memory exporter), else where
    ``settings.telemetry`` says, if anywhere.
    """
    owned = None if tracer_provider else tracer_provider_from(settings.telemetry, "conveyor-api")
    provider = tracer_provider or owned
    tracing = ApiTracing(provider.get_tracer("conveyor.api")) if provider else None
    state = AppState.from_settings(settings, tracing)
    store = JobStore(settings.database_url)
    cancel = JobCanceller(state, store)
    dashboard = (
        Dashboard(settings, store, state.auth.check, cancel.status_after)
        if settings.dashboard.enabled
        else None
    )

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        try:
            async with (
                _running_parts(state, store),
                dashboard.running() if dashboard else nullcontext(),
            ):
                yield
        finally:
            if owned is not None:
                await asyncio.to_thread(owned.shutdown)  # exports the spans still queued

    app = _IngestApi(
        event_routes(state),
        title="conveyor ingest API",
        version=__version__,
        summary="Events in over HTTP, durably on Kafka as Avro, processed by workers.",
        lifespan=lifespan,
        # FastAPI's built-in OpenTelemetry checks for a tracer on every request; conveyor
        # traces on its own terms (off, and free, unless configured).
        telemetry={"tracing": False, "metrics": False, "logs": False},
    )
    app.state.conveyor = state
    app.add_middleware(
        RequestMetrics,
        metrics=state.metrics,
        exact_paths=frozenset(event_path(name) for name in state.streams),
    )
    app.add_exception_handler(ApiError, _api_error)  # type: ignore[arg-type]
    add_unknown_stream_route(app, state)
    views = JobViews(state, store.get)
    app.include_router(changes_router(state, views))  # before the jobs', which takes any path
    app.include_router(jobs_router(state, views, cancel))
    app.include_router(health_router(state))
    if dashboard is not None:
        dashboard.mount(app)
    app.openapi = lambda: _openapi(app, state)  # type: ignore[method-assign]
    return app


@asynccontextmanager
async def _running_parts(state: AppState, store: JobStore) -> AsyncIterator[None]:
    settings = state.settings
    streams = list(settings.streams.values())
    admin = admin_client(settings.kafka)
    posted_to = [topic for s in streams for topic in s.level_topics + s.delay_topics]
    await asyncio.to_thread(require_topics, admin, posted_to)
    with registry_client(settings.schema_registry) as registry:
        ids = {s.name: await asyncio.to_thread(register_value_schema, registry, s) for s in streams}
        feeds = {
            s.name: ChangeFeedWriter(
                s, await asyncio.to_thread(register_value_schema, registry, s.change_feed)
            )
            for s in streams
        }
        producer = AsyncProducer(
            producer_config(settings.kafka, **{"linger.ms": str(settings.api.producer_linger_ms)}),
            settings.api.max_in_flight,
        )
        monitor = Monitor(
            admin,
            settings.workers.group_id,
            streams,
            settings.api.lag_interval_seconds,
            registry.get_subjects,
        )
        jobs = JobWriter(store)
        watcher = JobWatcher(store, settings.api.wait_poll_seconds)
        followers = ChangeFollowers(settings, settings.api.max_event_streams)
        producer.start()
        try:
            await monitor.start()
            await jobs.start()
            await watcher.start()
            ingestor = Ingestor(
                encoders={s.name: AvroEncoder(s.avro_schema, ids[s.name]) for s in streams},
                producer=producer,
                monitor=monitor,
                jobs=jobs,
                keys=IdempotencyKeys(store.engine),
                metrics=state.metrics,
                tracing=state.tracing,
            )
            state.running = Running(ingestor, producer, monitor, jobs, watcher, feeds, followers)
            freeze_startup_objects()
            log.info("api ready streams=%s", ",".join(s.name for s in streams))
            yield
        finally:
            state.running = None
            await watcher.stop()
            await asyncio.to_thread(followers.close)  # the last reads end, the consumers close
            await monitor.stop()
            undelivered = await producer.close()
            if undelivered:
                log.error("api stopped with undelivered records count=%d", undelivered)
            await jobs.stop()
            store.dispose()


class _IngestApi(FastAPI):
    """FastAPI, but a POST to a declared stream's event route goes straight to that route
    (``event_route.py``), past FastAPI's middleware and router, which it does not need."""

    def __init__(self, event_routes: Mapping[str, ASGIApp], **options: Any) -> None:
        super().__init__(**options)
        self._event_routes = event_routes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["method"] == "POST":
            route = self._event_routes.get(scope["path"])
            if route is not None:
                await route(scope, receive, send)
                return
        await super().__call__(scope, receive, send)


async def _api_error(request: Request, exc: ApiError) -> JSONResponse:
    return error_response(exc)


def _openapi(app: FastAPI, state: AppState) -> dict[str, Any]:
    """FastAPI's document plus each stream's event model, which the routes reference."""
    if app.openapi_schema:
        return app.openapi_schema
    schema = get_openapi(
        title=app.title, version=app.version, summary=app.summary, routes=app.routes
    )
    schema["paths"] = {**event_paths(state), **schema["paths"]}
    components = schema.setdefault("components", {}).setdefault("schemas", {})
    for ingest in state.streams.values():
        model_schema = json_schema(ingest.event, ref_template="#/components/schemas/{model}")
        components.update(model_schema.pop("$defs", {}))
        components[ingest.event.__name__] = model_schema
    app.openapi_schema = schema
    return schema
