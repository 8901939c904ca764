"""Work that must not be cut off halfway by a cancelled agent."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable
from typing import TypeVar

__all__ = ["finish"]

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
