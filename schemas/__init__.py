"""The data: Avro schemas (``*.avsc``, the source of truth) and their serde.

Values travel in the Confluent wire format (magic byte, schema id, Avro body),
with schemas registered under TopicNameStrategy subjects (``<topic>-value``).
"""

from conveyor.schemas.registry import registry_client

__all__ = ["registry_client"]
