"""The root of every error conveyor raises on purpose.

Each subpackage defines its own family under :class:`ConveyorError` in its
``exceptions.py``, so callers can catch one layer's failures without catching
another's, and the CLI can turn any of them into a one-line message.
"""

__all__ = ["ConveyorError"]


class ConveyorError(Exception):
    """Base class of conveyor's errors; ``str()`` is a message fit for a user."""
