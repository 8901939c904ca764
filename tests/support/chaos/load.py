"""The load of a chaos run: the plan's requests through the HTTP API at a steady rate.

Several threads share the plan; request ``i`` is due when the events before it would have
been sent at ``rate`` events a second, so the load goes on at the same pace through every
fault (a thread stuck on a slow answer leaves the next requests to the others). Each
attempt's answer goes to the ledger; an indeterminate one is tried again a few times,
unless the plan sends that request only once: then it is a client that never retries and
gives up after a few seconds, shorter than a failover's stall, so every broker kill leaves
indeterminate events, most of which the API still writes.
"""

from __future__ import annotations

import itertools
import threading
import time
from typing import Any

import httpx

from conveyor.config import Settings
from support.chaos.ledger import Fate, Ledger, fate_of
from support.chaos.plan import Plan, PlannedRequest
from support.events import send_poisoned_orders

__all__ = ["LoadGenerator"]

_TIMEOUT = 30.0  # longer than a partition's leader election after a broker is killed
_ONCE_TIMEOUT = 5.0
_ATTEMPTS = 3


class LoadGenerator:
    def __init__(
        self,
        settings: Settings,
        api_url: str,
        plan: Plan,
        ledger: Ledger,
        rate: float,
        threads: int = 16,
    ) -> None:
        self._settings = settings
        self._api_url = api_url
        self._plan = plan
        self._ledger = ledger
        self._rate = rate
        self._next = itertools.count()
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._errors: list[BaseException] = []
        # When each request is due, in seconds from the start.
        before = itertools.accumulate((len(r.events) for r in plan.requests), initial=0)
        self._due = [n / rate for n in before]
        self._threads = [
            threading.Thread(target=self._run, name=f"load-{n}", daemon=True)
            for n in range(threads)
        ]
        self.poison_written = 0

    def start(self) -> None:
        self._began = time.monotonic()
        for thread in self._threads:
            thread.start()

    @property
    def done(self) -> bool:
        return not any(t.is_alive() for t in self._threads)

    def stop(self) -> None:
        self._stop.set()
        self.join()

    def join(self, timeout: float | None = None) -> None:
        for thread in self._threads:
            thread.join(timeout)
        if self._errors:
            raise AssertionError("a load thread failed") from self._errors[0]

    def _run(self) -> None:
        try:
            with httpx.Client(base_url=self._api_url) as client:
                while not self._stop.is_set():
                    with self._lock:
                        index = next(self._next)
                    if index >= len(self._plan.requests):
                        return
                    if self._stop.wait(self._due[index] - (time.monotonic() - self._began)):
                        return
                    if (poison := self._plan.poison.get(index)) is not None:
                        invalid = send_poisoned_orders(
                            self._settings,
                            poison.orders,
                            poison.orders_seed,
                            every=1,
                            garbage=list(poison.garbage),
                        )
                        with self._lock:
                            self.poison_written += len(invalid) + len(poison.garbage)
                    self._send(client, self._plan.requests[index])
        except BaseException as exc:
            self._errors.append(exc)
            raise

    def _send(self, client: httpx.Client, request: PlannedRequest) -> None:
        body: Any = request.events[0] if len(request.events) == 1 else list(request.events)
        fate = Fate.INDETERMINATE
        attempts, timeout = (1, _ONCE_TIMEOUT) if request.once else (_ATTEMPTS, _TIMEOUT)
        for attempt in range(1, attempts + 1):
            status, retry_after = _post(
                client, f"/v1/streams/{request.stream}/events", body, timeout
            )
            self._ledger.attempted(status)
            fate = fate_of(status)
            if fate is not Fate.INDETERMINATE or attempt == attempts:
                break
            self._stop.wait(retry_after or attempt)
        self._ledger.settled(request, fate)


def _post(
    client: httpx.Client, path: str, body: Any, timeout: float
) -> tuple[int | None, float | None]:
    """The answer's status and its Retry-After, or (None, None) if none came in ``timeout``."""
    try:
        response = client.post(path, json=body, timeout=timeout)
    except httpx.TransportError:
        return None, None
    retry_after = response.headers.get("Retry-After")
    return response.status_code, float(retry_after) if retry_after else None
