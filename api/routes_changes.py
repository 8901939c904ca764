"""Server-Sent Events of jobs' changes, read from their streams' change feeds
(``api/changes.py``):

- ``GET /v1/jobs/{event_id}/events``: the job as it is now, then each change (a status, a
  progress report) as it is published; the stream ends once the job is final.
- ``GET /v1/streams/{stream}/job-events?key=K``: every change of the stream's jobs (of
  one key's, with ``key``) from now on, first a ``ready`` event to resume from (unless resumed).

Each event's ``id`` is where the feed was read to; a client that reconnects with it as
``Last-Event-ID`` (browsers' ``EventSource`` do) misses nothing. A job's own stream
resumed so starts with what came after that id, not with its state again.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Callable
from typing import Any

from fastapi import APIRouter, Query, Request, Response
from fastapi.responses import JSONResponse
from fastapi.sse import KEEPALIVE_COMMENT, EventSourceResponse, format_sse_event

from conveyor.api.changes import Change, Position, parse_position
from conveyor.api.exceptions import NotFoundError
from conveyor.api.routes_jobs import JobViews
from conveyor.api.state import AppState
from conveyor.store.jobs import FINAL_STATUSES

__all__ = ["changes_router"]

_FINAL = frozenset(status.value for status in FINAL_STATUSES)
# Polls of the feed (half a second each) without news before a keep-alive comment goes
# out: proxies close a response that stays silent for long.
_QUIET_POLLS = 30

_SSE: dict[int | str, dict[str, Any]] = {
    200: {"content": {"text/event-stream": {}}, "description": "Server-Sent Events."}
}


def changes_router(state: AppState, views: JobViews) -> APIRouter:
    router = APIRouter(tags=["jobs"])

    # Before the job route, which takes any path under /v1/jobs/.
    @router.get(
        "/v1/jobs/{event_id:path}/events",
        responses={**_SSE, 404: {"description": "No such event."}},
    )
    async def job_events(event_id: str, request: Request) -> Response:
        """The job's changes as Server-Sent Events: a ``status`` event with the job's view
        now, then a ``status`` event for each status it moves to and a ``progress`` event
        for each progress report, until it is final. Reconnect with ``Last-Event-ID`` to go
        on where the last event left off."""
        if not request.scope["raw_path"].endswith(b"/events"):
            # A job whose id ends in "/events", its slash encoded: its view, not its events.
            return JSONResponse(await views.view(f"{event_id}/events", request, None))
        record, owner = await views.authorized(event_id, request)
        followers = state.require_running().followers
        followers.check_room()
        start = _last_event_id(request)
        topic = state.streams[record.stream].stream.change_feed.topic

        async def events() -> AsyncIterator[bytes]:
            async with followers.follow(
                topic, lambda change: bool(change["event_id"] == event_id), start
            ) as following:
                if start is None:
                    # Read after the feed's end was taken: a change between the two is sent
                    # twice at worst, never missed.
                    now = views.describe(await views.read(event_id), owner=owner)
                    yield _event("status", now, following.position)
                    if now["status"] in _FINAL:
                        return
                async for data, final in _changes(following.changes(), owner):
                    yield data
                    if final:
                        return

        return EventSourceResponse(events())

    @router.get(
        "/v1/streams/{stream}/job-events",
        responses={**_SSE, 404: {"description": "No such stream."}},
    )
    async def stream_events(
        stream: str,
        request: Request,
        key: str | None = Query(None, description="Only the jobs of events with this key."),
    ) -> Response:
        """Every change of the stream's jobs from now on (or from ``Last-Event-ID``), as
        Server-Sent Events: first a ``ready`` event (not when resumed), then ``status``
        and ``progress`` events. The key must be allowed on the stream."""
        found = state.streams.get(stream)
        if found is None:
            raise NotFoundError(f"no stream {stream!r}")
        state.auth.authorize(state.auth.authenticate(request.headers), stream)
        followers = state.require_running().followers
        followers.check_room()
        start = _last_event_id(request)
        wanted: Callable[[dict[str, Any]], bool] = (
            (lambda _change: True) if key is None else (lambda change: change["key"] == key)
        )

        async def events() -> AsyncIterator[bytes]:
            async with followers.follow(found.stream.change_feed.topic, wanted, start) as following:
                if start is None:  # a position to resume from, before any change came
                    yield _event("ready", {"stream": stream, "key": key}, following.position)
                async for data, _ in _changes(following.changes(), owner=True):
                    yield data

        return EventSourceResponse(events())

    return router


def _last_event_id(request: Request) -> Position | None:
    text = request.headers.get("last-event-id")
    return parse_position(text) if text else None


async def _changes(
    changes: AsyncIterator[Change | None], owner: bool
) -> AsyncIterator[tuple[bytes, bool]]:
    """Each change as an event and whether it is a final status; a keep-alive comment
    after a while without one."""
    quiet = 0
    async for change in changes:
        if change is None:
            quiet += 1
            if quiet >= _QUIET_POLLS:
                quiet = 0
                yield KEEPALIVE_COMMENT, False
            continue
        quiet = 0
        value = _change_view(change.value, owner)
        kind = "progress" if value.get("progress") is not None else "status"
        yield _event(kind, value, change.position), value["status"] in _FINAL


def _change_view(change: dict[str, Any], owner: bool) -> dict[str, Any]:
    view = {name: value for name, value in change.items() if value is not None}
    view["at"] = change["at"].isoformat()
    if "result" in view:
        view["result"] = json.loads(view["result"])
    if not owner:
        view.pop("result", None)
        view.pop("error", None)
    return view


def _event(kind: str, data: dict[str, Any], position: Position) -> bytes:
    return format_sse_event(data_str=json.dumps(data), event=kind, id=position.text())
