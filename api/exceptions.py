"""Errors that stop the API from starting (refusals of requests are in ``errors``)."""

from conveyor.exceptions import ConveyorError

__all__ = ["UnsafeBindError"]


class UnsafeBindError(ConveyorError):
    """Listening beyond loopback without API keys would expose every stream to anyone."""
