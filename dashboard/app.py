"""The dashboard's parts: its pages and actions, the lag it samples, its templates."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from pathlib import Path

from fastapi import APIRouter, FastAPI
from fastapi.staticfiles import StaticFiles
from fastapi.templating import Jinja2Templates
from sqlalchemy import Engine

from conveyor.config import Settings
from conveyor.dashboard.access import KeyCheck
from conveyor.dashboard.actions import add_actions
from conveyor.dashboard.lag_history import LagHistory
from conveyor.dashboard.pages import add_pages
from conveyor.kafka.admin import admin_client
from conveyor.store import JobStore
from conveyor.store.search import create_search_indexes

__all__ = ["PREFIX", "Cancel", "Dashboard", "KeyCheck"]

PREFIX = "/ui"
_HERE = Path(__file__).parent

# Cancels a job by id (the API's cancel: api/cancel.py); answers the status it left the job in.
Cancel = Callable[[str], Awaitable[str]]


class Dashboard:
    """Pages under ``/ui`` (:meth:`mount`), its parts run for the API's life (:meth:`running`)."""

    def __init__(
        self,
        settings: Settings,
        store: JobStore,
        check: KeyCheck,
        cancel: Cancel | None = None,
    ) -> None:
        self.settings = settings
        self.store = store
        self.check = check
        self.cancel = cancel
        self.keys_enabled = bool(settings.api.keys)
        self.templates = Jinja2Templates(directory=_HERE / "templates")
        # Jinja's own ``tojson`` escapes ``<``, ``>`` and ``&`` as ``\u003c`` for use inside
        # <script>; in a <pre> it would show them so. Autoescape makes plain JSON safe there.
        self.templates.env.filters["pretty_json"] = _pretty_json
        self.lag: LagHistory | None = None

    @property
    def engine(self) -> Engine:
        return self.store.engine

    def mount(self, app: FastAPI) -> None:
        router = APIRouter(prefix=PREFIX, include_in_schema=False)
        add_pages(router, self)
        add_actions(router, self)
        app.include_router(router)
        app.mount(f"{PREFIX}/static", StaticFiles(directory=_HERE / "static"), name="ui-static")

    @asynccontextmanager
    async def running(self) -> AsyncIterator[None]:
        """Its indexes made, and lag sampled, while the API runs."""
        await asyncio.to_thread(create_search_indexes, self.engine)
        workers, dashboard = self.settings.workers, self.settings.dashboard
        topics = [t for s in self.settings.streams.values() for t in s.consumed_topics]
        self.lag = LagHistory(
            admin_client(self.settings.kafka),
            workers.group_id,
            topics,
            dashboard.lag_interval_seconds,
            dashboard.lag_samples,
        )
        await self.lag.start()
        try:
            yield
        finally:
            await self.lag.stop()


def _pretty_json(value: object) -> str:
    return json.dumps(value, indent=2, ensure_ascii=False, default=str)
