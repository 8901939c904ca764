"""A small HTTP/1.1 load generator: keep-alive connections, each one request at a time;
and, for some of the requests, their job's status URL polled until the job is final.

Written on raw asyncio streams because a general HTTP client spends more CPU per
request than the API under test, and the two share this machine's cores; it runs in
its own process for the same reason.
"""

from __future__ import annotations

import asyncio
import heapq
import json
import multiprocessing
import time
from dataclasses import dataclass
from itertools import cycle

import uvloop

__all__ = ["Follow", "LoadResult", "http_get", "http_post", "run_load"]

# What a job's status says once it will not change again.
_FINAL = frozenset({"succeeded", "failed", "dead_lettered", "cancelled"})
# The longest the last followed job may take after the last request: a worker that stopped.
_FOLLOW_SECONDS = 120.0


@dataclass(frozen=True)
class Follow:
    """Which requests' jobs to follow to their end: request k's status is polled at
    ``polls[k]`` (a full GET request), first ``every`` seconds after its ``202`` and then
    every ``every`` seconds after the previous poll was due, over ``connections`` more
    keep-alive connections."""

    polls: dict[int, bytes]
    every: float
    connections: int = 8


@dataclass(frozen=True)
class LoadResult:
    requests: int
    seconds: float
    latencies: list[float]  # seconds, one per request
    statuses: dict[int, int]
    sent_at: list[float]  # wall-clock time request k (of ``requests``, cycled) was sent
    # Followed requests only: when the poll that found the job final was answered, and
    # with what status; and how many polls were made in all.
    final_at: dict[int, float]
    final_status: dict[int, str]
    polls: int


def run_load(
    host: str,
    port: int,
    requests: list[bytes],
    total: int,
    concurrency: int,
    *,
    rate: float | None = None,
    follow: Follow | None = None,
) -> LoadResult:
    """Send ``total`` requests (cycling through ``requests``, each a full HTTP request)
    over ``concurrency`` connections, from a separate process; at most ``rate`` a second,
    request k not before k/rate seconds after the start; and follow the jobs ``follow``
    names until each is final."""
    job = _Job(host, port, requests, total, concurrency, rate, follow)
    with multiprocessing.get_context("spawn").Pool(1) as pool:
        result: LoadResult = pool.apply(_run, (job,))
    return result


@dataclass(frozen=True)
class _Job:
    """:func:`run_load`'s arguments, as its process gets them."""

    host: str
    port: int
    requests: list[bytes]
    total: int
    concurrency: int
    rate: float | None
    follow: Follow | None


def http_get(host: str, port: int, path: str) -> bytes:
    """One keep-alive GET request, ready to write to the socket."""
    return f"GET {path} HTTP/1.1\r\nHost: {host}:{port}\r\n\r\n".encode()


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


def _run(job: _Job) -> LoadResult:
    # uvloop: on asyncio's own loop this process spent ~110 us of CPU a request, two
    # thirds of what the API under test spends, on a machine whose two cores they share.
    return uvloop.run(_load(job))


async def _load(job: _Job) -> LoadResult:
    host, port, rate, total = job.host, job.port, job.rate, job.total
    source = enumerate(cycle(job.requests))
    remaining = total
    latencies: list[float] = []
    statuses: dict[int, int] = {}
    sent_at = [0.0] * total
    statuses_of = _Statuses(job.follow)
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
                status, _ = await _read_response(reader)
                latencies.append(time.perf_counter() - began)
                statuses[status] = statuses.get(status, 0) + 1
                if status == 202:
                    statuses_of.accepted(k)
        finally:
            writer.close()

    pollers = [
        asyncio.create_task(statuses_of.poll(host, port)) for _ in range(statuses_of.connections)
    ]
    await asyncio.gather(*(connection() for _ in range(job.concurrency)))
    seconds = time.perf_counter() - start
    await statuses_of.finished(pollers)
    return LoadResult(
        len(latencies),
        seconds,
        latencies,
        statuses,
        sent_at,
        statuses_of.final_at,
        statuses_of.final_status,
        statuses_of.polls,
    )


class _Statuses:
    """The followed jobs' polls: a heap of (when due, request) shared by the pollers."""

    def __init__(self, follow: Follow | None) -> None:
        self._follow = follow
        self.connections = follow.connections if follow else 0
        self._due: list[tuple[float, int]] = []
        self._queued = asyncio.Event()
        self._open = len(follow.polls) if follow else 0
        self._done = asyncio.Event()
        if not self._open:
            self._done.set()
        self.final_at: dict[int, float] = {}
        self.final_status: dict[int, str] = {}
        self.polls = 0

    def accepted(self, k: int) -> None:
        if self._follow and k in self._follow.polls:
            self._push(time.perf_counter() + self._follow.every, k)

    async def poll(self, host: str, port: int) -> None:
        assert self._follow is not None
        reader, writer = await asyncio.open_connection(host, port)
        try:
            while True:
                while not self._due:
                    self._queued.clear()
                    await self._queued.wait()
                due, k = heapq.heappop(self._due)
                if (wait := due - time.perf_counter()) > 0:
                    await asyncio.sleep(wait)
                writer.write(self._follow.polls[k])
                code, body = await _read_response(reader)
                self.polls += 1
                # 404: the API answered 202 but its queued row is not readable yet.
                status = json.loads(body)["status"] if code == 200 else ""
                if status in _FINAL:
                    self.final_at[k], self.final_status[k] = time.time(), status
                    self._open -= 1
                    if not self._open:
                        self._done.set()
                else:
                    self._push(due + self._follow.every, k)
        finally:
            writer.close()

    async def finished(self, pollers: list[asyncio.Task[None]]) -> None:
        """Once every followed job is final (or after ``_FOLLOW_SECONDS``), stop polling."""
        try:
            async with asyncio.timeout(_FOLLOW_SECONDS):
                await self._done.wait()
        finally:
            for task in pollers:
                task.cancel()
            await asyncio.gather(*pollers, return_exceptions=True)

    def _push(self, due: float, k: int) -> None:
        heapq.heappush(self._due, (due, k))
        self._queued.set()


async def _read_response(reader: asyncio.StreamReader) -> tuple[int, bytes]:
    head = await reader.readuntil(b"\r\n\r\n")
    status = int(head[9:12])
    length = 0
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            length = int(value)
    return status, await reader.readexactly(length)
