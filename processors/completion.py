"""Getting a batch's work done in spite of a cancelled agent or an outage."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import TypeVar

from conveyor.common.backoff import Backoff

__all__ = ["finish", "until_done"]

T = TypeVar("T")


async def finish(work: Awaitable[T]) -> T:
    """Await ``work`` to its end even if this task is cancelled meanwhile (then re-raise).

    Faust cancels agents on shutdown and acks the events of a ``take`` batch as the
    generator closes; a half-settled batch would be acked, so it is finished first.
    """
    task = asyncio.ensure_future(work)
    cancelled = False
    while not task.done():
        try:
            await asyncio.shield(task)
        except asyncio.CancelledError:
            cancelled = True
    if cancelled:
        raise asyncio.CancelledError
    return task.result()


async def until_done(
    attempt: Callable[[], Awaitable[T]],
    backoff: Backoff,
    complain: Callable[[Exception, float], None],
) -> T:
    """``attempt()`` until it succeeds, ``complain(error, retry_in)`` after each failure:
    an outage of the result store or the registry holds the work, it never drops it."""
    tries = 0
    while True:
        try:
            return await attempt()
        except Exception as exc:
            delay = backoff.delay(min(tries, 6))
            tries += 1
            complain(exc, delay)
            await asyncio.sleep(delay)
