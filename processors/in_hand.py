"""A stream's records in batches of what is in hand, with no wait to fill them.

Faust's ``take(n, within)`` hands a batch over when it holds ``n`` records or ``within``
has passed since the last one went, so at a steady rate below ``n`` records a
``within`` every record waits out the window: 50 ms added to each at 1,000 events/s.
:func:`in_hand` hands a batch over as soon as the agent's queue holds no more records
(or at ``size``). Under load the batches grow by themselves: while the engine claims or
settles one batch, the next piles up in the queue and goes as one.
"""

from __future__ import annotations

from collections.abc import AsyncIterable, AsyncIterator, Callable
from typing import TypeVar

__all__ = ["in_hand"]

T = TypeVar("T")


async def in_hand(
    events: AsyncIterable[T], empty: Callable[[], bool], size: int
) -> AsyncIterator[list[T]]:
    """``events`` in batches of at most ``size``, each handed over as soon as ``empty()``
    says the queue they come from holds no more (a Faust stream's ``events()`` and its
    channel's ``empty``)."""
    batch: list[T] = []
    async for event in events:
        batch.append(event)
        if len(batch) >= size or empty():
            yield batch
            batch = []
