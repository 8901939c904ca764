"""An API instance per test, on its own topics, against the session's broker and registry."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from conveyor.api import create_app
from conveyor.config import Settings, StreamDeclaration
from conveyor.producers.topics import ensure_topics


@pytest.fixture
def stack_settings(
    settings: Settings, unique: Callable[[str], str], tmp_path: Path
) -> Callable[..., Settings]:
    """Settings whose streams live on fresh topics; ``overrides`` adjust the API or a stream."""

    def _make(api: dict[str, Any] | None = None, **stream_overrides: dict[str, Any]) -> Settings:
        streams = {
            name: StreamDeclaration.model_validate(
                {
                    **s.model_dump(by_alias=True),
                    "topic": unique(name),
                    **stream_overrides.get(name, {}),
                }
            )
            for name, s in settings.streams.items()
        }
        made = settings.model_copy(
            update={
                "streams": streams,
                "database_url": f"sqlite:///{tmp_path / 'conveyor.db'}",
                "api": settings.api.model_copy(update=api or {}),
                "workers": settings.workers.model_copy(update={"group_id": unique("workers")}),
            }
        )
        ensure_topics(made.kafka, streams.values())
        return made

    return _make


@pytest.fixture
def api(stack_settings: Callable[..., Settings]) -> Iterator[TestClient]:
    """A running API (lifespan included) with default settings on fresh topics."""
    with TestClient(create_app(stack_settings())) as client:
        yield client
