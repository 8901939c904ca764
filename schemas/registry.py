"""The schema registry client, configured from settings."""

from __future__ import annotations

from confluent_kafka.schema_registry import SchemaRegistryClient

from conveyor.config import RegistrySettings

__all__ = ["registry_client"]


def registry_client(registry: RegistrySettings) -> SchemaRegistryClient:
    return SchemaRegistryClient(registry.client_config())
