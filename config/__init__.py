"""Configuration: settings (env over YAML over defaults) and stream declarations."""

from conveyor.config.settings import (
    ClientConfig,
    KafkaSettings,
    RegistrySettings,
    Settings,
    load_settings,
)
from conveyor.config.streams import Ordering, StreamDeclaration, load_streams

__all__ = [
    "ClientConfig",
    "KafkaSettings",
    "Ordering",
    "RegistrySettings",
    "Settings",
    "StreamDeclaration",
    "load_settings",
    "load_streams",
]
