"""Processes for a stream declared ``executor: process``: a pool of our own, one job per
process at a time, so that a job's process can be killed.

A thread cannot be stopped and ``concurrent.futures.ProcessPoolExecutor`` cannot stop
one of its jobs either (a cancelled future only stops one not started yet): a job past
its timeout, or cancelled, would hold its process for as long as it likes. Here each
process runs one job at a time over a pipe of its own; a job given up (timed out,
cancelled, its worker stopping) has its process killed (SIGKILL) and a fresh one
started in its place. A process that dies under its job (a crash, the OOM killer) fails
that job like any error: it is retried or dead-lettered.

Processes come from a *forkserver*, never from a fork of the worker: the worker has
threads (librdkafka's, the store's, the handlers') and a fork copies their locks in
whatever state they were in. Each process builds the stream's handler from the settings
once, when it starts, and reuses it for every job; a handler's progress reports come
back over the pipe to the worker's reporter (``HandlerContext.progress``).
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import logging
import multiprocessing
import os
import pickle
import signal
from multiprocessing.connection import Connection
from multiprocessing.process import BaseProcess
from typing import Any, cast

from conveyor.config import Settings
from conveyor.kafka.events import Event
from conveyor.processors.exceptions import ProcessorError
from conveyor.processors.handler import (
    HandlerContext,
    Processed,
    Progress,
    RunningJob,
    current_job,
    load_handler,
)
from conveyor.runtime.logs import LogSetup, current_logging, log_as
from conveyor.store import JobStore

__all__ = ["ProcessPool", "pool_size"]

log = logging.getLogger(__name__)

_CONTEXT = multiprocessing.get_context("forkserver")
# What every process needs, imported once in the fork server rather than once per process:
# a replacement for a killed process is then ready in a fraction of a second.
_CONTEXT.set_forkserver_preload([__name__])


def pool_size() -> int:
    """One process per core this worker may run on."""
    return len(os.sched_getaffinity(0))


class ProcessPool:
    """``size`` processes running the handler of stream ``stream`` (a name in
    ``settings.streams``). Processes start on the first job, not here."""

    def __init__(self, settings: Settings, stream: str, size: int) -> None:
        self._settings = settings
        self._stream = stream
        self.size = size
        # None in the queue: a process could not start (its error in _broken).
        self._idle: asyncio.Queue[_Process | None] | None = None
        self._broken: BaseException | None = None
        self._all: set[_Process] = set()
        self._starting: set[asyncio.Task[None]] = set()
        self._closed = False

    async def run(self, event: Event, job: RunningJob) -> Processed:
        """``event``'s result from the handler in a process of its own; should the caller
        give up on it (a timeout, a cancel, a stop), the process is killed and replaced."""
        idle = self._idle
        if idle is None:
            idle = self._idle = asyncio.Queue()
            for _ in range(self.size):
                self._start_one()
        process = await idle.get()
        if process is None:
            idle.put_nowait(None)  # for the next job
            raise ProcessorError(f"the handler's process could not start: {self._broken!r}")
        try:
            outcome = await process.run(event, job)
        except BaseException:
            # Given up (CancelledError), or the process died under its job: either way it
            # cannot take another job.
            self._replace(process)
            raise
        idle.put_nowait(process)
        if isinstance(outcome, BaseException):
            raise outcome
        return outcome

    def pids(self) -> set[int]:
        """The pids of the processes alive now (tests and the bench look)."""
        return {p.pid for p in self._all if p.pid is not None}

    def close(self) -> None:
        self._closed = True
        for task in self._starting:
            task.cancel()
        for process in self._all:
            process.kill()
        self._all.clear()

    def _replace(self, process: _Process) -> None:
        self._all.discard(process)
        process.kill()
        if not self._closed:
            self._start_one()

    def _start_one(self) -> None:
        task = asyncio.create_task(self._start(), name=f"conveyor-process-{self._stream}")
        self._starting.add(task)
        task.add_done_callback(self._starting.discard)

    async def _start(self) -> None:
        # Starting asks the fork server (the first start launches it: a new interpreter),
        # which takes long enough to keep off the loop.
        assert self._idle is not None
        process = await asyncio.to_thread(_Process.start, self._settings, self._stream)
        self._all.add(process)
        try:
            await process.ready()
        except Exception as exc:
            self._all.discard(process)
            process.kill()
            log.error("a handler process did not start stream=%s error=%r", self._stream, exc)
            self._broken = exc
            self._idle.put_nowait(None)
            return
        except BaseException:
            self._all.discard(process)
            process.kill()
            raise
        self._idle.put_nowait(process)


class _Process:
    """One child process and the parent's end of its pipe."""

    def __init__(self, process: BaseProcess, conn: Connection) -> None:
        self._process = process
        self._conn = conn

    @classmethod
    def start(cls, settings: Settings, stream: str) -> _Process:
        parent, child = _CONTEXT.Pipe()
        process = _CONTEXT.Process(
            target=_serve,
            args=(child, settings, stream, current_logging()),
            name=f"conveyor-{stream}",
            daemon=True,
        )
        process.start()
        child.close()
        return cls(process, parent)

    @property
    def pid(self) -> int | None:
        return self._process.pid

    async def ready(self) -> None:
        kind, payload = await self._receive()
        if kind != "ready":
            raise ProcessorError(f"{payload!r}")

    async def run(self, event: Event, job: RunningJob) -> Processed | BaseException:
        """The handler's result, or the error it raised (to raise in the caller)."""
        self._conn.send(("run", event))
        while True:
            kind, payload = await self._receive()
            if kind == "progress":
                job.report(job.event_id, cast(Progress, payload))
            elif kind == "done":
                return cast(Processed, payload)
            else:
                return cast(BaseException, payload)

    async def _receive(self) -> tuple[str, Any]:
        if not self._conn.poll():
            loop = asyncio.get_running_loop()
            readable: asyncio.Future[None] = loop.create_future()
            fd = self._conn.fileno()
            loop.add_reader(fd, _resolve, readable)
            try:
                await readable
            finally:
                loop.remove_reader(fd)
        try:
            return cast(tuple[str, Any], self._conn.recv())
        except EOFError:
            raise ProcessorError(
                f"the handler's process (pid {self.pid}) died, exit code {self._process.exitcode}"
            ) from None

    def kill(self) -> None:
        self._conn.close()
        if self._process.is_alive():
            self._process.kill()
        # Reaped by multiprocessing when the next process starts or the worker exits.


def _serve(conn: Connection, settings: Settings, stream_name: str, logs: LogSetup) -> None:
    """A pool process: build the handler once, then run the jobs the pipe brings."""
    log_as(logs)  # a handler's log lines read as the worker's own
    # Ctrl-C reaches the whole process group; the worker decides when its processes stop.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    stream = settings.streams[stream_name]
    assert stream.handler is not None
    store = JobStore(settings.database_url)
    try:
        handler = load_handler(stream.handler)(HandlerContext(settings, stream, store))
    except Exception as exc:
        conn.send(("failed", _sendable(exc)))
        return
    conn.send(("ready", os.getpid()))
    loop = asyncio.new_event_loop()

    def report(_event_id: str, progress: Progress) -> None:
        conn.send(("progress", progress))

    try:
        while True:
            try:
                _, event = conn.recv()
            except EOFError:
                return
            token = current_job.set(RunningJob(event.event_id, report))
            try:
                result = handler.process(event)
                if inspect.isawaitable(result):
                    result = loop.run_until_complete(result)
                conn.send(("done", result))
            except Exception as exc:
                conn.send(("failed", _sendable(exc)))
            finally:
                current_job.reset(token)
    finally:
        with contextlib.suppress(Exception):
            handler.close()
        store.dispose()
        loop.close()


def _resolve(future: asyncio.Future[None]) -> None:
    if not future.done():
        future.set_result(None)


def _sendable(exc: Exception) -> Exception:
    """``exc``, or a stand-in with its type and message if it does not pickle."""
    try:
        pickle.loads(pickle.dumps(exc))  # noqa: S301 - our own bytes, just made
    except Exception:
        return ProcessorError(f"{type(exc).__name__}: {exc}")
    return exc
