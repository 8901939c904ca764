"""The remote service ``conveyor bench jobs`` calls: a real HTTP server on loopback, in a
process of its own, that answers every request after ``delay`` seconds however many wait
at once (uvicorn, a bare ASGI function, one task a request sleeping on its loop)."""

from __future__ import annotations

import asyncio
import multiprocessing
import time
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from typing import Any

import uvicorn

from conveyor.infra.processes import free_port_block
from conveyor.infra.services import http_ok

__all__ = ["slow_service"]

_ANSWER = b'{"ok":true}'
_STARTUP_SECONDS = 30.0


@contextmanager
def slow_service(delay: float) -> Iterator[str]:
    """A URL answered after ``delay`` seconds, until the block ends."""
    port = free_port_block(1)
    url = f"http://127.0.0.1:{port}/"
    # Spawned, not forked: the bench's process holds librdkafka's threads.
    server = multiprocessing.get_context("spawn").Process(
        target=_serve, args=(port, delay), name="conveyor-bench-slow-service", daemon=True
    )
    server.start()
    try:
        deadline = time.monotonic() + _STARTUP_SECONDS
        while not http_ok(url):
            if not server.is_alive() or time.monotonic() > deadline:
                raise RuntimeError(f"the slow service on port {port} did not start")
            time.sleep(0.1)
        yield url
    finally:
        server.terminate()  # uvicorn stops on SIGTERM, closing its connections
        server.join(10)
        if server.is_alive():
            server.kill()
            server.join()


def _serve(port: int, delay: float) -> None:
    async def app(
        scope: dict[str, Any],
        receive: Callable[[], Awaitable[Any]],
        send: Callable[[dict[str, Any]], Awaitable[None]],
    ) -> None:
        await asyncio.sleep(delay)
        await send(
            {
                "type": "http.response.start",
                "status": 200,
                "headers": [(b"content-type", b"application/json")],
            }
        )
        await send({"type": "http.response.body", "body": _ANSWER})

    config = uvicorn.Config(
        app,
        host="127.0.0.1",
        port=port,
        lifespan="off",
        access_log=False,
        log_level="warning",
        # A burst of new connections from a worker's first jobs must not be refused.
        backlog=4096,
    )
    uvicorn.Server(config).run()
