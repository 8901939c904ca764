"""An API instance per test, on its own topics, against the session's broker and registry."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from conveyor.api import create_app
from conveyor.config import Settings
from conveyor.infra.mail import LocalMailServer
from conveyor.infra.processes import free_port_block
from support.stack import fresh_stack
from support.workers import Pipeline, running_workers


@pytest.fixture
def stack_settings(settings: Settings, tmp_path: Path) -> Callable[..., Settings]:
    """``stack_settings(api={...}, orders={...})``: settings on this test's own topics."""

    def _make(api: dict[str, Any] | None = None, **streams: dict[str, Any]) -> Settings:
        return fresh_stack(settings, tmp_path, api, **streams)

    return _make


@pytest.fixture
def api(stack_settings: Callable[..., Settings]) -> Iterator[TestClient]:
    """A running API (lifespan included) with default settings on fresh topics."""
    with TestClient(create_app(stack_settings())) as client:
        yield client


@pytest.fixture
def pipeline(stack_settings: Callable[..., Settings], tmp_path: Path) -> Iterator[Pipeline]:
    mail = LocalMailServer(tmp_path / "mail", free_port_block(1))
    mail.start()
    try:
        base = stack_settings()
        settings = base.model_copy(
            update={"smtp": base.smtp.model_copy(update={"port": mail.port})}
        )
        with TestClient(create_app(settings)) as client, running_workers(settings, tmp_path):
            yield Pipeline(settings, client, mail)
    finally:
        mail.stop()
