"""An API instance per test, on its own topics, against the session's broker and registry."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from conveyor.api import create_app
from conveyor.config import Settings
from support.stack import fresh_stack


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
