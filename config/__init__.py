"""Configuration: settings (env over YAML over defaults) and stream declarations."""

from conveyor.config.settings import (
    ApiKey,
    ApiSettings,
    ClientConfig,
    KafkaSettings,
    RegistrySettings,
    Settings,
    SmtpSettings,
    TelemetrySettings,
    WorkerSettings,
    load_settings,
)
from conveyor.config.streams import (
    FOREVER,
    Ordering,
    OutputDeclaration,
    Retention,
    RetryPolicy,
    StreamDeclaration,
    load_streams,
)

__all__ = [
    "FOREVER",
    "ApiKey",
    "ApiSettings",
    "ClientConfig",
    "KafkaSettings",
    "Ordering",
    "OutputDeclaration",
    "RegistrySettings",
    "Retention",
    "RetryPolicy",
    "Settings",
    "SmtpSettings",
    "StreamDeclaration",
    "TelemetrySettings",
    "WorkerSettings",
    "load_settings",
    "load_streams",
]
