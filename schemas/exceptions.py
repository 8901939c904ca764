"""Errors about schemas and the data they describe."""

from conveyor.exceptions import ConveyorError

__all__ = ["DecodeError", "SchemaError", "UnsupportedSchemaError"]


class SchemaError(ConveyorError):
    """A schema could not be used, registered or applied."""


class UnsupportedSchemaError(SchemaError):
    """An ``.avsc`` uses an Avro construct conveyor cannot derive a model from."""


class DecodeError(SchemaError):
    """Bytes that are not a value of the expected schema in the Confluent wire format."""
