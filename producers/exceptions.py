"""Errors of conveyor's producers."""

from conveyor.exceptions import ConveyorError

__all__ = ["ProducerError", "ProvisioningError"]


class ProducerError(ConveyorError):
    """Writing to Kafka failed."""


class ProvisioningError(ProducerError):
    """A topic could not be created or changed; the message names the topic and why."""
