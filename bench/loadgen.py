"""A small HTTP/1.1 load generator: keep-alive connections, each one request at a time.

Written on raw asyncio streams because a general HTTP client spends more CPU per
request than the API under test, and the two share this machine's cores; it runs in
its own process for the same reason.
"""

from __future__ import annotations

import asyncio
import multiprocessing
import time
from dataclasses import dataclass
from itertools import cycle

__all__ = ["LoadResult", "run_load"]


@dataclass(frozen=True)
class LoadResult:
    requests: int
    seconds: float
    latencies: list[float]  # seconds, one per request
    statuses: dict[int, int]
    sent_at: list[float]  # wall-clock time request k (of ``requests``, cycled) was sent


def run_load(
    host: str,
    port: int,
    requests: list[bytes],
    total: int,
    concurrency: int,
    *,
    rate: float | None = None,
) -> LoadResult:
    """Send ``total`` requests (cycling through ``requests``, each a full HTTP request)
    over ``concurrency`` connections, from a separate process; at most ``rate`` a second,
    request k not before k/rate seconds after the start."""
    with multiprocessing.get_context("spawn").Pool(1) as pool:
        result: LoadResult = pool.apply(
            _run, (host, port, requests, total, concurrency), {"rate": rate}
        )
    return result


def http_post(
    host: str,
    port: int,
    path: str,
    body: bytes,
    content_type: str,
    *,
    headers: dict[str, str] | None = None,
) -> bytes:
    """One keep-alive POST request, ready to write to the socket."""
    extra = "".join(f"{name}: {value}\r\n" for name, value in (headers or {}).items())
    return (
        f"POST {path} HTTP/1.1\r\nHost: {host}:{port}\r\nContent-Type: {content_type}\r\n"
        f"{extra}Content-Length: {len(body)}\r\n\r\n"
    ).encode() + body


def _run(
    host: str, port: int, requests: list[bytes], total: int, concurrency: int, *, rate: float | None
) -> LoadResult:
    return asyncio.run(_load(host, port, requests, total, concurrency, rate=rate))


async def _load(
    host: str, port: int, requests: list[bytes], total: int, concurrency: int, *, rate: float | None
) -> LoadResult:
    source = enumerate(cycle(requests))
    remaining = total
    latencies: list[float] = []
    statuses: dict[int, int] = {}
    sent_at = [0.0] * total
    start = time.perf_counter()

    async def connection() -> None:
        nonlocal remaining
        reader, writer = await asyncio.open_connection(host, port)
        try:
            while remaining > 0:
                remaining -= 1
                k, request = next(source)
                if rate is not None and (wait := start + k / rate - time.perf_counter()) > 0:
                    await asyncio.sleep(wait)
                began = time.perf_counter()
                sent_at[k] = time.time()
                writer.write(request)
                status = await _read_response(reader)
                latencies.append(time.perf_counter() - began)
                statuses[status] = statuses.get(status, 0) + 1
        finally:
            writer.close()

    await asyncio.gather(*(connection() for _ in range(concurrency)))
    return LoadResult(len(latencies), time.perf_counter() - start, latencies, statuses, sent_at)


async def _read_response(reader: asyncio.StreamReader) -> int:
    head = await reader.readuntil(b"\r\n\r\n")
    status = int(head[9:12])
    length = 0
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            length = int(value)
    await reader.readexactly(length)
    return status
