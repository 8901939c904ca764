"""Settings for one test's own slice of the shared broker: fresh topics, store and group."""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

from conveyor.config import Settings, StreamDeclaration
from conveyor.ops.topics import ensure_topics


def unique(prefix: str) -> str:
    """``unique("orders")`` → ``orders-1a2b3c4d``: a name no other test uses."""
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def fresh_stack(
    settings: Settings,
    db_dir: Path,
    api: dict[str, Any] | None = None,
    **stream_overrides: dict[str, Any],
) -> Settings:
    """``settings`` with every stream on fresh topics (created here), a fresh result store
    and worker group; ``api`` and ``stream_overrides`` adjust the API and single streams."""
    streams = {
        name: StreamDeclaration.model_validate(
            {
                **s.model_dump(by_alias=True),
                "topic": unique(name),
                "outputs": {
                    out: {**o.model_dump(by_alias=True), "topic": unique(f"{name}.{out}")}
                    for out, o in s.outputs.items()
                },
                **stream_overrides.get(name, {}),
            }
        )
        for name, s in settings.streams.items()
    }
    made = settings.model_copy(
        update={
            "streams": streams,
            "database_url": f"sqlite:///{db_dir / 'conveyor.db'}",
            "data_dir": db_dir,
            "api": settings.api.model_copy(update=api or {}),
            "workers": settings.workers.model_copy(update={"group_id": unique("workers")}),
        }
    )
    ensure_topics(made.kafka, streams.values())
    return made
