"""The local stack as one unit: a Kafka cluster and a schema registry, started as needed.

Anything already configured (``KAFKA_BOOTSTRAP_SERVERS``, ``SCHEMA_REGISTRY_URL``)
is used as it is; only what is missing is started, and only what was started
here is stopped on exit.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager, suppress
from pathlib import Path

from conveyor.config import Settings
from conveyor.infra.exceptions import NotRunningError
from conveyor.infra.kafka import LocalCluster, SaslUser
from conveyor.infra.registry import LocalRegistry

__all__ = ["local_stack", "stack_env"]

log = logging.getLogger(__name__)


def stack_env(settings: Settings) -> dict[str, str]:
    """The environment variables that point another shell at this stack."""
    return {
        "KAFKA_BOOTSTRAP_SERVERS": settings.kafka.bootstrap_servers,
        "SCHEMA_REGISTRY_URL": settings.schema_registry.url,
    }


@contextmanager
def local_stack(
    settings: Settings,
    data_dir: Path,
    nodes: int = 1,
    kafka_port: int = 9092,
    registry_port: int = 8081,
) -> Iterator[Settings]:
    """Start whatever of Kafka and the registry ``settings`` do not already point at.

    Yields ``settings`` pointed at the running stack.
    """
    with ExitStack() as started:
        bootstrap = settings.kafka.bootstrap_servers
        if "bootstrap_servers" not in settings.kafka.model_fields_set:
            # Clients configured for SASL get a cluster that takes their user.
            sasl = SaslUser.of_clients(settings.kafka)
            cluster = LocalCluster(data_dir / "kafka", settings.cache_dir, nodes, kafka_port, sasl)
            # Registered before starting: an interrupted start still stops what it spawned.
            started.callback(_quietly(cluster.stop))
            cluster.start()
            bootstrap = cluster.bootstrap_servers
        registry_url = settings.schema_registry.url
        if "url" not in settings.schema_registry.model_fields_set:
            kafka = settings.kafka.model_copy(update={"bootstrap_servers": bootstrap})
            registry = LocalRegistry(
                data_dir / "registry", settings.cache_dir, kafka, registry_port
            )
            started.callback(_quietly(registry.stop))
            registry.start()
            registry_url = registry.url
        yield settings.model_copy(
            update={
                "kafka": settings.kafka.model_copy(update={"bootstrap_servers": bootstrap}),
                "schema_registry": settings.schema_registry.model_copy(
                    update={"url": registry_url}
                ),
            }
        )


def _quietly(stop: Callable[[], object]) -> Callable[[], None]:
    """``stop``, where nothing having been started yet is fine."""

    def _stop() -> None:
        with suppress(NotRunningError):
            stop()

    return _stop
