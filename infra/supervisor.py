"""``conveyor up`` keeps its own services (the API, the workers) running.

A service that exits is reported at once (its name, pid and exit status, one log line),
reaped, and started again after a backoff that doubles with each exit in a row, up to a
cap, and starts over once a run lasted a while. One that keeps dying soon after each start
is given up on: that raises, and ``up`` stops everything and exits non-zero, as
supervisord does after ``startretries``, rather than restarting a broken build forever.
"""

from __future__ import annotations

import logging
import signal
import subprocess
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType

from conveyor.infra.exceptions import ServiceFailedError
from conveyor.infra.services import spawn_service, stop_service, wait_until_ready

__all__ = ["RestartPolicy", "Service", "Supervisor"]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class RestartPolicy:
    """``first_delay * 2**(n-1)`` seconds before restarting after the n-th exit in a row,
    at most ``max_delay``. A run of ``stable_after`` seconds or more ends the row; the
    ``max_exits``-th exit in a row is given up on."""

    first_delay: float = 1.0
    max_delay: float = 30.0
    # A worker joins its group and takes partitions within a session timeout or two:
    # one that lasts a minute started properly, and died of something else.
    stable_after: float = 60.0
    max_exits: int = 5

    def delay(self, exits: int) -> float:
        return min(self.max_delay, self.first_delay * 2.0 ** (exits - 1))


@dataclass(frozen=True)
class Service:
    """``conveyor ARGS``, named ``name`` in reports, its output in ``log``, ready once
    ``ready()`` says so."""

    name: str
    args: list[str]
    log: Path
    ready: Callable[[], bool]


@dataclass
class _Child:
    service: Service
    proc: subprocess.Popen[bytes] | None
    started: float = field(default_factory=time.monotonic)
    exits: int = 0  # in a row, each soon after its start
    restart_at: float = 0.0


class Supervisor:
    """Services started with :meth:`start`, kept running by :meth:`watch`, stopped (last
    started first) when the ``with`` block ends."""

    def __init__(self, env: Mapping[str, str], policy: RestartPolicy | None = None) -> None:
        self._env = dict(env)
        self._policy = policy or RestartPolicy()
        self._children: list[_Child] = []

    def __enter__(self) -> Supervisor:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        for child in reversed(self._children):
            if child.proc is not None:
                stop_service(child.proc)

    @property
    def pids(self) -> dict[str, int]:
        """The pid of each service that is running now."""
        return {c.service.name: c.proc.pid for c in self._children if c.proc is not None}

    def start(self, service: Service, timeout: float = 90.0) -> None:
        """Start ``service`` and wait until it is ready; :class:`StartupError` if it is not."""
        proc = spawn_service(service.args, self._env, service.log)
        self._children.append(_Child(service, proc))
        wait_until_ready(proc, service.args, service.log, service.ready, timeout)

    def watch(self, interval: float = 0.2) -> None:
        """Keep every service running, until interrupted or one is given up on
        (:class:`ServiceFailedError`)."""
        while True:
            self.check()
            time.sleep(interval)

    def check(self) -> None:
        """Reap and report the services that exited; restart those whose backoff is over."""
        now = time.monotonic()
        for child in self._children:
            if child.proc is None:
                if now >= child.restart_at:
                    self._restart(child)
            elif (code := child.proc.poll()) is not None:
                self._exited(child, child.proc.pid, code, now)

    def _exited(self, child: _Child, pid: int, code: int, now: float) -> None:
        name, ran = child.service.name, now - child.started
        child.proc = None
        child.exits = 1 if ran >= self._policy.stable_after else child.exits + 1
        how, fields = _exit_status(code)
        if child.exits >= self._policy.max_exits:
            raise ServiceFailedError(
                f"{name} (pid {pid}) {how} after {ran:.1f}s, its exit number {child.exits} "
                f"in a row within {self._policy.stable_after:.0f}s of starting: gave up",
                child.service.log,
            )
        delay = self._policy.delay(child.exits)
        child.restart_at = now + delay
        log.warning(
            "service exited name=%s pid=%d %s ran=%.1fs restart_in=%.1fs log=%s",
            name,
            pid,
            " ".join(f"{k}={v}" for k, v in fields.items()),
            ran,
            delay,
            child.service.log,
            extra={"service": name, "pid": pid, **fields},
        )

    def _restart(self, child: _Child) -> None:
        child.proc = spawn_service(child.service.args, self._env, child.service.log)
        child.started = time.monotonic()
        log.warning(
            "service restarted name=%s pid=%d",
            child.service.name,
            child.proc.pid,
            extra={"service": child.service.name, "pid": child.proc.pid},
        )


def _exit_status(code: int) -> tuple[str, dict[str, int | str]]:
    """How a process ended, in words and as log fields (Popen: -N for signal N)."""
    if code < 0:
        name = signal.Signals(-code).name
        return f"was killed by {name}", {"signal": name}
    return f"exited with status {code}", {"exit_code": code}
