"""Errors about schemas and the data they describe."""

from conveyor.exceptions import ConveyorError

__all__ = ["SchemaError", "UnsupportedSchemaError"]


class SchemaError(ConveyorError):
    """A schema could not be used, registered or applied."""


class UnsupportedSchemaError(SchemaError):
    """An ``.avsc`` uses an Avro construct conveyor cannot derive a model from."""
