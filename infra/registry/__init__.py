"""A Confluent-compatible schema registry (Apicurio Registry) run from Maven Central."""

from conveyor.infra.registry.local import APICURIO_VERSION, LocalRegistry

__all__ = ["APICURIO_VERSION", "LocalRegistry"]
