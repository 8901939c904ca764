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
    DelayTiers,
    Ordering,
    OutputDeclaration,
    Priorities,
    Retention,
    RetryPolicy,
    Schedule,
    StreamDeclaration,
    load_streams,
)

__all__ = [
    "FOREVER",
    "ApiKey",
    "ApiSettings",
    "ClientConfig",
    "DelayTiers",
    "KafkaSettings",
    "Ordering",
    "OutputDeclaration",
    "Priorities",
    "RegistrySettings",
    "Retention",
    "RetryPolicy",
    "Schedule",
    "Settings",
    "SmtpSettings",
    "StreamDeclaration",
    "TelemetrySettings",
    "WorkerSettings",
    "load_settings",
    "load_streams",
]
