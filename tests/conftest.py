"""Session fixtures: a real broker, registry and PostgreSQL, unique names, settings
pointing at them."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.handlers import Mailbox
from confluent_kafka.admin import AdminClient, NewTopic
from fastapi.testclient import TestClient

from conveyor.api import create_app
from conveyor.config import Settings, load_settings
from conveyor.infra.mail import LocalMailServer
from conveyor.infra.processes import free_port_block
from support import brokers, postgres, stack
from support.workers import Pipeline, running_workers


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--full",
        action="store_true",
        help="run the chaos harness at full size: 100,000 events, the whole fault schedule",
    )
    parser.addoption(
        "--screenshots",
        metavar="DIR",
        default=None,
        help="where the dashboard's browser test saves a PNG of each page (docs/dashboard)",
    )


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
def postgres_server() -> Iterator[str]:
    with postgres.postgres_server() as url:
        yield url


@pytest.fixture
def postgres_url(postgres_server: str) -> Iterator[str]:
    """A fresh, empty PostgreSQL database for this test, as a SQLAlchemy URL."""
    with postgres.fresh_database(postgres_server) as url:
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


@pytest.fixture
def stack_settings(settings: Settings, tmp_path: Path) -> Callable[..., Settings]:
    """``stack_settings(api={...}, orders={...})``: settings on this test's own topics."""

    def _make(api: dict[str, Any] | None = None, **streams: dict[str, Any]) -> Settings:
        return stack.fresh_stack(settings, tmp_path, api, **streams)

    return _make


@pytest.fixture
def make_pipeline(
    stack_settings: Callable[..., Settings], tmp_path: Path
) -> Callable[..., AbstractContextManager[Pipeline]]:
    """``with make_pipeline(workers=2, mail_handler=..., database_url=..., orders={...}) as p``:
    the API in-process, worker processes and a mail server on loopback, on this test's own
    topics and store (a fresh SQLite file unless ``database_url`` names another); keyword
    arguments named for a stream adjust its declaration."""

    @contextmanager
    def _make(
        workers: int = 1,
        mail_handler: type[Mailbox] = Mailbox,
        database_url: str | None = None,
        **streams: dict[str, Any],
    ) -> Iterator[Pipeline]:
        mail = LocalMailServer(tmp_path / "mail", free_port_block(1), handler=mail_handler)
        mail.start()
        try:
            base = stack_settings(**streams)
            config = base.model_copy(
                update={
                    "smtp": base.smtp.model_copy(update={"port": mail.port}),
                    "database_url": database_url or base.database_url,
                }
            )
            with (
                TestClient(create_app(config)) as client,
                running_workers(config, tmp_path, workers),
            ):
                yield Pipeline(config, client, mail)
        finally:
            mail.stop()

    return _make
