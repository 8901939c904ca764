"""Errors raised while loading configuration."""

from conveyor.exceptions import ConveyorError

__all__ = ["ConfigError"]


class ConfigError(ConveyorError):
    """The configuration file or a setting is unusable; the message names which."""
