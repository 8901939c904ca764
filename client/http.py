"""The Python client of the ingest API, sync and async.

It sends events in batches and retries what the API asks it to retry (``503``,
``429``, and connection failures) with exponential backoff and jitter, never
sooner than ``Retry-After``. Before the first attempt every event gets an
``event_id`` (its own, or a new UUIDv7), so a retry after an ambiguous failure
resends the same ids and can never yield a second result downstream.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterable, AsyncIterator, Iterable, Iterator
from dataclasses import dataclass, field
from itertools import islice
from typing import Any

import httpx
from httpx_sse import aconnect_sse

from conveyor.client.exceptions import ApiRefusedError, ApiUnavailableError, JobWaitTimeoutError
from conveyor.common.backoff import Backoff, parse_retry_after
from conveyor.kafka.identity import job_path, uuid7
from conveyor.schemas.models import EVENT_ID_FIELD
from conveyor.store.jobs import FINAL_STATUSES

__all__ = ["AsyncConveyorClient", "ConveyorClient", "SendStats"]

_RETRY_STATUSES = frozenset({429, 503})
DEFAULT_BATCH = 500
# A waiting request asks the API to hold it this long at most: under the API's default
# limit (60 s) and the idle timeouts of proxies in between.
_WAIT_CHUNK = 25.0
_LEAST_WAIT = 0.001  # the API takes waits above zero only
_FINAL = frozenset(status.value for status in FINAL_STATUSES)
# An event stream waits for news as long as it takes: the server sends a keep-alive every
# 15 s, so a minute of silence means the connection is gone (it is then resumed).
_STREAMING = httpx.Timeout(30.0, read=60.0)


@dataclass
class SendStats:
    """What a client did so far: requests, retries, events accepted."""

    requests: int = 0
    retries: int = 0
    accepted: int = 0
    retry_reasons: dict[str, int] = field(default_factory=dict)

    def note_retry(self, reason: str) -> None:
        self.retries += 1
        self.retry_reasons[reason] = self.retry_reasons.get(reason, 0) + 1


@dataclass(frozen=True)
class _Outcome:
    receipts: list[dict[str, Any]] | None = None
    retry_after: float | None = None
    reason: str = ""


class _Base:
    def __init__(
        self, base_url: str, api_key: str | None, backoff: Backoff | None, timeout: float
    ) -> None:
        self._base_url = base_url.rstrip("/")
        self._headers = {"Content-Type": "application/json"}
        if api_key:
            self._headers["Authorization"] = f"Bearer {api_key}"
        self.backoff = backoff or Backoff()
        self.stats = SendStats()
        self._http_timeout = timeout

    def _url(self, stream: str) -> str:
        return f"{self._base_url}/v1/streams/{stream}/events"

    def _job_request(
        self, event_id: str, wait: float | None
    ) -> tuple[str, dict[str, float], httpx.Timeout | None]:
        """A job's URL, its query and, when it waits, a read timeout past the wait."""
        url = self._base_url + job_path(event_id)
        if wait is None:
            return url, {}, None
        timeout = self._http_timeout
        return url, {"wait": wait}, httpx.Timeout(timeout, read=wait + timeout, pool=None)

    @staticmethod
    def _body(events: list[dict[str, Any]]) -> bytes:
        """The request body, with an id on every event, encoded once for every attempt."""
        identified = [
            e if e.get(EVENT_ID_FIELD) else {**e, EVENT_ID_FIELD: uuid7()} for e in events
        ]
        return json.dumps(identified, default=str).encode()

    def _interpret(self, response: httpx.Response) -> _Outcome:
        self.stats.requests += 1
        if response.status_code == 202:
            receipts = response.json()["events"]
            self.stats.accepted += len(receipts)
            return _Outcome(receipts=receipts)
        if response.status_code in _RETRY_STATUSES:
            return _Outcome(
                retry_after=parse_retry_after(response.headers.get("retry-after")),
                reason=str(response.status_code),
            )
        raise ApiRefusedError(response.status_code, _detail(response))

    def _retry_delay(self, stream: str, attempt: int, outcome: _Outcome) -> float:
        """Seconds to wait before attempt ``attempt + 1``; raises once attempts run out."""
        self.stats.note_retry(outcome.reason)
        if attempt + 1 >= self.backoff.max_attempts:
            raise ApiUnavailableError(
                f"stream {stream!r}: gave up after {attempt + 1} attempts (last: {outcome.reason})"
            )
        return self.backoff.delay(attempt, outcome.retry_after)


class ConveyorClient(_Base):
    """Blocking client; ``with ConveyorClient(url) as client: client.send("orders", events)``."""

    def __init__(
        self,
        base_url: str,
        api_key: str | None = None,
        backoff: Backoff | None = None,
        timeout: float = 30.0,
    ) -> None:
        super().__init__(base_url, api_key, backoff, timeout)
        self._http = httpx.Client(headers=self._headers, timeout=_timeout(timeout))

    def __enter__(self) -> ConveyorClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self._http.close()

    def send(
        self, stream: str, events: Iterable[dict[str, Any]], batch_size: int = DEFAULT_BATCH
    ) -> Iterator[list[dict[str, Any]]]:
        """Send ``events`` in batches; yields each batch's receipts as it is accepted."""
        iterator = iter(events)
        while batch := list(islice(iterator, batch_size)):
            yield self.send_batch(stream, batch)

    def send_batch(self, stream: str, events: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """Send one batch, retrying until it is accepted whole; returns its receipts."""
        body = self._body(events)
        attempt = 0
        while True:
            try:
                outcome = self._interpret(self._http.post(self._url(stream), content=body))
            except httpx.TransportError as exc:
                outcome = _Outcome(reason=type(exc).__name__)
            if outcome.receipts is not None:
                return outcome.receipts
            time.sleep(self._retry_delay(stream, attempt, outcome))
            attempt += 1

    def job(self, event_id: str, wait: float | None = None) -> dict[str, Any]:
        """The job's view; with ``wait``, once it is final or after ``wait`` seconds."""
        url, params, timeout = self._job_request(event_id, wait)
        return _job_view(self._http.get(url, params=params, timeout=timeout))

    def cancel(self, event_id: str) -> dict[str, Any]:
        """Cancel the job (it never runs, or it stops and applies nothing); its view."""
        return _job_view(self._http.post(self._base_url + job_path(event_id) + "/cancel"))

    def wait(self, event_id: str, timeout: float | None = None) -> dict[str, Any]:
        """The job's view once it is final; :class:`JobWaitTimeoutError` after ``timeout``
        seconds (None: no limit). The API answers as soon as the job ends."""
        waiting = _Waiting(event_id, timeout)
        while True:
            view = self.job(event_id, wait=waiting.next_wait())
            if waiting.over(view):
                return view


class AsyncConveyorClient(_Base):
    """The same client for asyncio."""

    def __init__(
        self,
        base_url: str,
        api_key: str | None = None,
        backoff: Backoff | None = None,
        timeout: float = 30.0,
    ) -> None:
        super().__init__(base_url, api_key, backoff, timeout)
        self._http = httpx.AsyncClient(headers=self._headers, timeout=_timeout(timeout))

    async def __aenter__(self) -> AsyncConveyorClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def close(self) -> None:
        await self._http.aclose()

    async def send(
        self,
        stream: str,
        events: AsyncIterable[dict[str, Any]] | Iterable[dict[str, Any]],
        batch_size: int = DEFAULT_BATCH,
    ) -> list[dict[str, Any]]:
        """Send ``events`` in batches of ``batch_size``; returns every receipt, in order."""
        receipts: list[dict[str, Any]] = []
        batch: list[dict[str, Any]] = []
        async for event in _aiter(events):
            batch.append(event)
            if len(batch) == batch_size:
                receipts += await self.send_batch(stream, batch)
                batch = []
        if batch:
            receipts += await self.send_batch(stream, batch)
        return receipts

    async def job(self, event_id: str, wait: float | None = None) -> dict[str, Any]:
        """The job's view; with ``wait``, once it is final or after ``wait`` seconds."""
        url, params, timeout = self._job_request(event_id, wait)
        return _job_view(await self._http.get(url, params=params, timeout=timeout))

    async def cancel(self, event_id: str) -> dict[str, Any]:
        """Cancel the job (it never runs, or it stops and applies nothing); its view."""
        return _job_view(await self._http.post(self._base_url + job_path(event_id) + "/cancel"))

    async def wait(self, event_id: str) -> dict[str, Any]:
        """The job's view once it is final (bound it with ``asyncio.timeout``). The API
        answers as soon as the job ends."""
        waiting = _Waiting(event_id, None)
        while True:
            view = await self.job(event_id, wait=waiting.next_wait())
            if waiting.over(view):
                return view

    def changes(self, event_id: str) -> AsyncIterator[dict[str, Any]]:
        """The job's changes as they happen: its view now, then each status it moves to and
        each progress report (each a dict with ``event``: ``status`` or ``progress``), ending
        once it is final. A dropped connection is resumed where it left off."""
        return self._follow(self._base_url + job_path(event_id) + "/events", {})

    def stream_changes(self, stream: str, key: str | None = None) -> AsyncIterator[dict[str, Any]]:
        """Every change of ``stream``'s jobs (``key``'s only, if given) from now on, as
        :meth:`changes` gives them; it never ends by itself."""
        params = {} if key is None else {"key": key}
        return self._follow(f"{self._base_url}/v1/streams/{stream}/job-events", params)

    async def _follow(self, url: str, params: dict[str, str]) -> AsyncIterator[dict[str, Any]]:
        last: str | None = None
        attempt = 0
        while True:
            headers = {} if last is None else {"Last-Event-ID": last}
            try:
                async with aconnect_sse(
                    self._http, "GET", url, params=params, headers=headers, timeout=_STREAMING
                ) as source:
                    if source.response.status_code != 200:
                        await source.response.aread()
                        raise ApiRefusedError(source.response.status_code, _detail(source.response))
                    async for sse in source.aiter_sse():
                        attempt = 0
                        last = sse.id or last
                        if sse.event == "ready":
                            continue
                        change: dict[str, Any] = {"event": sse.event, **sse.json()}
                        yield change
                        if sse.event == "status" and change.get("status") in _FINAL:
                            return
            except httpx.TransportError:
                pass  # resumed from the last event's id
            await asyncio.sleep(self.backoff.delay(attempt))
            attempt += 1

    async def send_batch(self, stream: str, events: list[dict[str, Any]]) -> list[dict[str, Any]]:
        body = self._body(events)
        attempt = 0
        while True:
            try:
                outcome = self._interpret(await self._http.post(self._url(stream), content=body))
            except httpx.TransportError as exc:
                outcome = _Outcome(reason=type(exc).__name__)
            if outcome.receipts is not None:
                return outcome.receipts
            await asyncio.sleep(self._retry_delay(stream, attempt, outcome))
            attempt += 1


class _Waiting:
    """One :meth:`wait`: requests of at most :data:`_WAIT_CHUNK` seconds until the job is
    final or the caller's time is up."""

    def __init__(self, event_id: str, timeout: float | None) -> None:
        self._event_id = event_id
        self._deadline = None if timeout is None else time.monotonic() + timeout

    def next_wait(self) -> float:
        if self._deadline is None:
            return _WAIT_CHUNK
        return max(min(_WAIT_CHUNK, self._deadline - time.monotonic()), _LEAST_WAIT)

    def over(self, view: dict[str, Any]) -> bool:
        """True if ``view`` is final; raises once the time is up."""
        if view["status"] in _FINAL:
            return True
        if self._deadline is not None and time.monotonic() >= self._deadline:
            raise JobWaitTimeoutError(self._event_id, view)
        return False


def _timeout(seconds: float) -> httpx.Timeout:
    # No limit on the wait for a pooled connection: requests that wait for their jobs hold
    # theirs for long, and the ones behind them should queue, not fail.
    return httpx.Timeout(seconds, pool=None)


def _job_view(response: httpx.Response) -> dict[str, Any]:
    if response.status_code != 200:
        raise ApiRefusedError(response.status_code, _detail(response))
    view: dict[str, Any] = response.json()
    return view


async def _aiter(
    events: AsyncIterable[dict[str, Any]] | Iterable[dict[str, Any]],
) -> AsyncIterable[dict[str, Any]]:
    if isinstance(events, AsyncIterable):
        async for event in events:
            yield event
    else:
        for event in events:
            yield event


def _detail(response: httpx.Response) -> Any:
    try:
        return response.json().get("detail", response.text)
    except ValueError:
        return response.text
