"""A job while its handler runs: where the handler runs, and what it can ask of its job.

An ``async def process`` runs on the worker's loop; a plain ``def process`` in a thread
pool as large as the stream's concurrency; a stream declared ``executor: process`` in a
pool of processes (``processors/process_pool.py``). Nothing a handler does can then hold
the loop that heartbeats and fetches for the worker's group.

While it runs a handler reaches its own job through its context (``context.progress``,
``context.cancelled``): the job is this task's (a context variable, which
``asyncio.to_thread``-style calls copy into the thread, and which the process pool sets
in its process).
"""

from __future__ import annotations

import asyncio
import contextvars
import inspect
from collections.abc import Awaitable
from concurrent.futures import ThreadPoolExecutor
from typing import cast

from conveyor.kafka.events import Event
from conveyor.processors.handler import Handler, Processed, RunningJob, current_job
from conveyor.processors.process_pool import ProcessPool

__all__ = ["HandlerCall"]


class HandlerCall:
    """How a stream's handler is called: on the loop, in a thread, or in a process."""

    def __init__(
        self,
        handler: Handler,
        threads: int,
        in_process: ProcessPool | None = None,
    ) -> None:
        self._handler = handler
        self._in_process = in_process
        self._on_loop = inspect.iscoroutinefunction(handler.process)
        self._threads = (
            None
            if self._on_loop or in_process is not None
            else ThreadPoolExecutor(threads, thread_name_prefix="conveyor-handler")
        )

    def close(self) -> None:
        if self._in_process is not None:
            self._in_process.close()
        if self._threads is not None:
            self._threads.shutdown(wait=False, cancel_futures=True)

    async def __call__(self, event: Event, job: RunningJob) -> Processed:
        if self._in_process is not None:
            return await self._in_process.run(event, job)
        token = current_job.set(job)
        try:
            if self._on_loop:
                return await cast(Awaitable[Processed], self._handler.process(event))
            assert self._threads is not None
            context = contextvars.copy_context()
            loop = asyncio.get_running_loop()
            try:
                return cast(
                    Processed,
                    await loop.run_in_executor(
                        self._threads, context.run, self._handler.process, event
                    ),
                )
            except asyncio.CancelledError:
                job.stop.set()  # a thread cannot be interrupted: it is told instead
                raise
        finally:
            current_job.reset(token)
