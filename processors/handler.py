"""What a stream's handler is given, and what it gives back.

A handler turns one decoded event into a :class:`Processed`: the result stored with
the job and the records for the stream's outputs. The worker applies that in one
result-store transaction, together with the job's final status; ``apply`` runs
inside it for the events applied for the first time, which is where state that
must count each event once (a windowed total) is kept.
"""

from __future__ import annotations

import importlib
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Connection

from conveyor.config import Settings, StreamDeclaration
from conveyor.kafka.events import Event
from conveyor.processors.exceptions import ProcessorError
from conveyor.store import JobStore

__all__ = ["Handler", "HandlerContext", "Output", "Processed", "load_handler"]


@dataclass(slots=True)
class Output:
    """A record for one of the stream's declared outputs, by the output's name.

    ``ce_id`` defaults to the input's ``event_id``: one record per output per event,
    which downstream readers can deduplicate on.
    """

    output: str
    value: dict[str, Any]
    ce_id: str | None = None


@dataclass(slots=True)
class Processed:
    result: dict[str, Any]
    outputs: list[Output] = field(default_factory=list)


@dataclass(frozen=True)
class HandlerContext:
    settings: Settings
    stream: StreamDeclaration
    store: JobStore


class Handler:
    """Base of every handler: ``process`` each event, optionally ``apply`` aggregate state."""

    def __init__(self, context: HandlerContext) -> None:
        self.context = context

    def close(self) -> None:
        """Called once on the way out, after the last event: close what ``process`` opened."""

    async def process(self, event: Event) -> Processed:
        """The event's result and outputs. Raise :class:`PoisonError` for a bad record and
        :class:`RetryLater` for a passing failure."""
        raise NotImplementedError

    def apply(self, conn: Connection, applied: Sequence[tuple[Event, Processed]]) -> list[Output]:
        """Inside the result-store transaction, for events applied for the first time."""
        return []


def load_handler(path: str) -> type[Handler]:
    """The handler class named ``module:attribute``."""
    module_name, _, attribute = path.partition(":")
    try:
        found = getattr(importlib.import_module(module_name), attribute)
    except (ImportError, AttributeError) as exc:
        raise ProcessorError(f"cannot load handler {path!r}: {exc}") from exc
    if not (isinstance(found, type) and issubclass(found, Handler)):
        raise ProcessorError(f"handler {path!r} is not a subclass of {Handler.__qualname__}")
    return found
