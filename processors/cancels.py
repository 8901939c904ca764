"""A worker's watch for its jobs that were cancelled while they run.

The API cancels a job in the result store (``store/cancels.py``): from then on no claim
or settle can move it, so nothing it does is applied. What is left is to stop its
handler: every ``workers.cancel_poll_seconds`` one query asks which of the jobs running
here are cancelled, and each engine stops its own (the task cancelled: asyncio
cancellation for a handler on the loop, the stop flag for one in a thread, which checks
``context.cancelled()``; and the process pool stops the process of a job whose call is
cancelled). A worker with no job running asks nothing.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence

from conveyor.processors.engine import Engine
from conveyor.store import JobStatus, JobStore
from conveyor.store.jobs import jobs_in

__all__ = ["watch_cancels"]

log = logging.getLogger(__name__)


async def watch_cancels(engines: Sequence[Engine], store: JobStore, interval: float) -> None:
    """Stop the handlers of cancelled jobs, until cancelled itself."""
    while True:
        await asyncio.sleep(interval)
        running = [event_id for engine in engines for event_id in engine.running()]
        if not running:
            continue
        try:
            cancelled = await asyncio.to_thread(
                jobs_in, store.engine, running, {JobStatus.CANCELLED}
            )
        except Exception as exc:
            # The next poll asks again; meanwhile the gate keeps a cancelled job's effects out.
            log.warning("cancelled jobs not checked error=%r", exc)
            continue
        for engine in engines:
            for event_id in cancelled.intersection(engine.running()):
                engine.cancel(event_id)
