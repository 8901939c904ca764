"""What a stream's handler is given, and what it gives back.

A handler turns one decoded event into a :class:`Processed`: the result stored with
the job and the records for the stream's outputs. The worker applies that in one
result-store transaction, together with the job's final status; ``apply`` runs
inside it for the events applied for the first time, which is where state that
must count each event once (a windowed total) is kept.
"""

from __future__ import annotations

import contextvars
import importlib
import threading
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar

from sqlalchemy import Connection

from conveyor.config import Settings, StreamDeclaration
from conveyor.kafka.events import Event
from conveyor.processors.exceptions import ProcessorError
from conveyor.store import JobStore

__all__ = [
    "Handler",
    "HandlerContext",
    "Output",
    "Processed",
    "Progress",
    "RunningJob",
    "current_job",
    "load_handler",
]


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


@dataclass(frozen=True, slots=True)
class Progress:
    """What a handler last said of its job: how far (0 to 1), a short message, and
    optionally a partial result."""

    fraction: float
    message: str = ""
    partial: dict[str, Any] | None = None


# Guards the making of a job's stop event, which the loop (a cancel) and the handler's
# thread (a check) may both be first to ask for.
_STOP_MADE = threading.Lock()


@dataclass(eq=False)
class RunningJob:
    """One job in a worker's hands while its handler runs."""

    event_id: str
    report: Callable[[str, Progress], None] = field(repr=False)
    _stop: threading.Event | None = field(default=None, init=False, repr=False)

    @property
    def stop(self) -> threading.Event:
        """Set when the job was cancelled or timed out: a thread-pool handler checks it.
        Made when first asked for: most jobs never are, and an event (a condition and
        its lock) cost a job more than its own bookkeeping."""
        if self._stop is None:
            with _STOP_MADE:
                if self._stop is None:
                    self._stop = threading.Event()
        return self._stop

    def progress(
        self, fraction: float, message: str = "", partial: dict[str, Any] | None = None
    ) -> None:
        self.report(self.event_id, Progress(min(max(fraction, 0.0), 1.0), message[:200], partial))


current_job: contextvars.ContextVar[RunningJob | None] = contextvars.ContextVar(
    "conveyor_job", default=None
)


@dataclass(frozen=True)
class HandlerContext:
    """What every job of a stream shares; ``progress`` and ``cancelled`` speak for the job
    the calling handler is running."""

    settings: Settings
    stream: StreamDeclaration
    store: JobStore

    def progress(
        self, fraction: float, message: str = "", partial: dict[str, Any] | None = None
    ) -> None:
        """Report how far the running job is (0 to 1), shown at its status URL. Cheap to
        call often: the worker writes the latest report a few times a second at most."""
        job = current_job.get()
        if job is not None:
            job.progress(fraction, message, partial)

    def cancelled(self) -> bool:
        """Whether the running job was cancelled or timed out: a plain ``def process``
        (in a thread, which cannot be interrupted) checks it between steps and returns."""
        job = current_job.get()
        return job is not None and job.stop.is_set()


class Handler:
    """Base of every handler: ``process`` each event, optionally ``apply`` aggregate state."""

    # Whether ``process`` only computes: no message, call or write leaves it but its
    # return value (and ``apply``'s, inside the settle). A pure handler's jobs are not
    # claimed before they run; the settle's gate alone applies each event once, as it
    # would have had a claim let two runs through. One store transaction a batch, not
    # two, and a result sooner; in exchange its jobs show no ``processing`` status, and a
    # redelivered event is computed again before the gate sets it aside.
    pure: ClassVar[bool] = False

    def __init__(self, context: HandlerContext) -> None:
        self.context = context

    def close(self) -> None:
        """Called once on the way out, after the last event: close what ``process`` opened."""

    def process(self, event: Event) -> Awaitable[Processed] | Processed:
        """The event's result and outputs. Raise :class:`PoisonError` for a bad record and
        :class:`RetryLater` for a passing failure. Written ``async def``, it runs on the
        worker's loop and must never block it; written ``def``, it runs in a thread pool
        (or in a process, for a stream declared ``executor: process``)."""
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
