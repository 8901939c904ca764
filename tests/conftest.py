"""Session fixtures: a real broker and registry, unique names, settings pointing at them."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from confluent_kafka.admin import AdminClient, NewTopic

from conveyor.config import Settings, load_settings
from support import brokers, stack


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Mark tests by folder, so the marker always matches where a test lives."""
    for item in items:
        parts = Path(str(item.fspath)).parts
        for folder in ("integration", "chaos", "fuzz"):
            if folder in parts:
                item.add_marker(folder)
                if folder != "integration":
                    item.add_marker("integration")


@pytest.fixture(scope="session")
def bootstrap_servers(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    with brokers.kafka_bootstrap(tmp_path_factory.mktemp("kafka")) as servers:
        yield servers


@pytest.fixture(scope="session")
def registry_url(tmp_path_factory: pytest.TempPathFactory, bootstrap_servers: str) -> Iterator[str]:
    with brokers.registry_url(tmp_path_factory.mktemp("registry"), bootstrap_servers) as url:
        yield url


@pytest.fixture(scope="session")
def settings(bootstrap_servers: str, registry_url: str) -> Settings:
    """Settings pointing at the session's broker and registry."""
    return load_settings(
        kafka={"bootstrap_servers": bootstrap_servers},
        schema_registry={"url": registry_url},
    )


@pytest.fixture
def unique() -> Callable[[str], str]:
    """``unique("orders")`` → ``orders-1a2b3c4d``: names no other test uses."""
    return stack.unique


@pytest.fixture
def make_topic(bootstrap_servers: str, unique: Callable[[str], str]) -> Callable[..., str]:
    """Create a topic with a unique name on the session broker; returns its name."""

    def _make(
        prefix: str = "t",
        partitions: int = 3,
        servers: str = bootstrap_servers,
        replication_factor: int = -1,
    ) -> str:
        name = unique(prefix)
        admin = AdminClient({"bootstrap.servers": servers})
        topic = NewTopic(name, num_partitions=partitions, replication_factor=replication_factor)
        admin.create_topics([topic])[name].result(30)
        return name

    return _make
