"""``/healthz`` (the process), ``/readyz`` (its dependencies) and ``/metrics``."""

from __future__ import annotations

from fastapi import APIRouter, Response
from fastapi.responses import JSONResponse
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from conveyor.api.state import AppState

__all__ = ["health_router"]


def health_router(state: AppState) -> APIRouter:
    router = APIRouter(tags=["health"])

    @router.get("/healthz")
    async def healthz() -> dict[str, str]:
        """The process is up and serving."""
        return {"status": "ok"}

    @router.get("/readyz", responses={503: {"description": "A dependency is not healthy."}})
    async def readyz() -> JSONResponse:
        """Ready to accept events: broker, registry and producer healthy."""
        running = state.running
        checks = {
            "kafka": running is not None and running.monitor.kafka_ok,
            "schema_registry": running is not None and running.monitor.registry_ok,
            "producer": running is not None and running.producer.healthy,
        }
        ready = all(checks.values())
        return JSONResponse(
            {"status": "ready" if ready else "not ready", "checks": checks},
            status_code=200 if ready else 503,
        )

    @router.get("/metrics", include_in_schema=False)
    async def metrics() -> Response:
        running = state.running
        if running is not None:
            state.metrics.producer_queue.set(running.producer.in_flight)
            state.metrics.waiting.set(len(running.watcher))
            for name in state.streams:
                state.metrics.backlog.labels(name).set(running.monitor.backlog(name))
        return Response(generate_latest(state.metrics.registry), media_type=CONTENT_TYPE_LATEST)

    return router
