"""What can go wrong with an event, by what the worker does about it.

:class:`PoisonError` and its kinds go to the dead-letter topic at once: trying again
cannot help. :class:`RetryLater` asks for another attempt after a backoff. Anything
else escaping a handler is treated as :class:`RetryLater` too, up to the stream's
attempts, because an unexpected error is more often a passing fault than a bad record.
:class:`OutcomeUnknownError` fails the job without another attempt: its effect may
have happened, and trying again could apply it twice.
"""

from __future__ import annotations

from conveyor.exceptions import ConveyorError

__all__ = [
    "InvalidEventError",
    "OutcomeUnknownError",
    "PoisonError",
    "ProcessorError",
    "RetryLater",
]


class ProcessorError(ConveyorError):
    """Raised by the workers."""


class PoisonError(ProcessorError):
    """The record itself is unusable: dead-letter it now."""


class InvalidEventError(PoisonError):
    """The record decodes but breaks a rule of its stream (e.g. totals that do not add up)."""


class RetryLater(ProcessorError):  # noqa: N818 - control flow, named for what it asks
    """A passing failure (a refused connection, a 4xx from a mail server): try again."""


class OutcomeUnknownError(ProcessorError):
    """The effect may or may not have happened (e.g. the connection was lost after the
    point of no return): the job fails, and is dead-lettered for a person to decide."""
