"""An API instance per test, on its own topics, against the session's broker and registry;
a fresh result store on each backend."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from conveyor.api import create_app
from conveyor.config import Settings
from conveyor.store import JobStore
from support.workers import Pipeline


@pytest.fixture
def api(stack_settings: Callable[..., Settings]) -> Iterator[TestClient]:
    """A running API (lifespan included) with default settings on fresh topics."""
    with TestClient(create_app(stack_settings())) as client:
        yield client


@pytest.fixture
def pipeline(make_pipeline: Callable[..., AbstractContextManager[Pipeline]]) -> Iterator[Pipeline]:
    """The API, one worker and a mail server, on fresh topics and a fresh store."""
    with make_pipeline() as running:
        yield running


@pytest.fixture(params=["sqlite", "postgresql"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[JobStore]:
    """A fresh result store with its schema, on each backend."""
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'store.db'}"
    else:
        url = request.getfixturevalue("postgres_url")
    store = JobStore(url)
    store.create_schema()
    yield store
    store.dispose()
