"""An API instance per test, on its own topics, against the session's broker and registry."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager

import pytest
from fastapi.testclient import TestClient

from conveyor.api import create_app
from conveyor.config import Settings
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
