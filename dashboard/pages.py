"""The dashboard's pages. Each answers whole for a navigation and as a fragment for htmx
(``HX-Request``), which swaps the part that refreshes or the search results in place."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response

from conveyor.dashboard.access import Viewer, presented_key
from conveyor.dashboard.letters import stream_letters
from conveyor.dashboard.views import lag_chart, overview_rows, rates_chart, schedule_rows
from conveyor.store import JobStatus
from conveyor.store.search import JobQuery, in_flight, minute_rates, search_jobs

if TYPE_CHECKING:
    from conveyor.dashboard.app import Dashboard

__all__ = ["add_pages", "viewer_of"]

_PAGE = 50


def viewer_of(dash: Dashboard, request: Request) -> Viewer | None:
    """Who is looking; None (send them to log in) when keys are configured and none came."""
    presented = presented_key(request)
    if dash.keys_enabled and presented is None:
        return None
    return Viewer(dash.check(presented))


def add_pages(router: APIRouter, dash: Dashboard) -> None:
    def render(request: Request, template: str, **context: Any) -> Response:
        viewer = viewer_of(dash, request)
        if viewer is None:
            return RedirectResponse(f"{router.prefix}/login", status_code=303)
        context |= {
            "viewer": viewer,
            "fragment": request.headers.get("hx-request") == "true",
            "prefix": router.prefix,
        }
        return dash.templates.TemplateResponse(request, template, context)

    @router.get("", response_class=HTMLResponse)
    async def overview(request: Request) -> Response:
        counts = await asyncio.to_thread(in_flight, dash.engine)
        rates = await asyncio.to_thread(minute_rates, dash.engine, 2)
        latest = dash.lag.latest if dash.lag else None
        rows = overview_rows(dash.settings, counts, rates, latest)
        members = latest.groups[0].membership.members if latest else None
        return render(request, "overview.html", rows=rows, workers=members, sampled=latest)

    @router.get("/data/rates")
    async def rates(request: Request) -> Response:
        if viewer_of(dash, request) is None:
            raise HTTPException(401, "log in first")
        return JSONResponse(rates_chart(await asyncio.to_thread(minute_rates, dash.engine, 30)))

    @router.get("/data/lag")
    async def lag(request: Request) -> Response:
        if viewer_of(dash, request) is None:
            raise HTTPException(401, "log in first")
        return JSONResponse(lag_chart(dash.lag.snapshots if dash.lag else []))

    @router.get("/jobs", response_class=HTMLResponse)
    async def jobs(
        request: Request,
        *,
        event_id: str = "",
        key: str = "",
        stream: str = "",
        status: str = "",
        since: str = "",
        until: str = "",
        after: str = "",
    ) -> Response:
        query = JobQuery(
            event_id=event_id.strip() or None,
            key=key.strip() or None,
            stream=stream or None,
            status=JobStatus(status) if status else None,
            since=_time(since),
            until=_time(until),
            after=_cursor(after),
        )
        page = await asyncio.to_thread(search_jobs, dash.engine, query, _PAGE)
        shown = {"event_id": event_id, "key": key, "stream": stream, "status": status}
        shown |= {"since": since, "until": until}
        return render(
            request,
            "jobs.html",
            page=page,
            shown=shown,
            streams=list(dash.settings.streams),
            statuses=[s.value for s in JobStatus],
            next_after=_cursor_text(page.next),
        )

    @router.get("/jobs/{event_id:path}", response_class=HTMLResponse)
    async def job(request: Request, event_id: str) -> Response:
        record = await asyncio.to_thread(dash.store.get, event_id)
        if record is None:
            raise HTTPException(404, f"no job {event_id!r}")
        cancellable = dash.cancel is not None and record.status in (
            JobStatus.QUEUED,
            JobStatus.PROCESSING,
        )
        trace_url = dash.settings.telemetry.trace_url
        trace = (
            trace_url.replace("{trace_id}", record.trace_id)
            if trace_url and record.trace_id
            else None
        )
        return render(request, "job.html", job=record, cancellable=cancellable, trace=trace)

    @router.get("/dead-letters", response_class=HTMLResponse)
    async def dead_letters(request: Request, stream: str = "") -> Response:
        if viewer_of(dash, request) is None:
            return RedirectResponse(f"{router.prefix}/login", status_code=303)
        chosen = [s for s in dash.settings.streams.values() if not stream or s.name == stream]
        groups = await asyncio.gather(
            *(asyncio.to_thread(stream_letters, dash.settings, s) for s in chosen)
        )
        return render(request, "dead_letters.html", streams=groups)

    @router.get("/lag", response_class=HTMLResponse)
    async def lag_page(request: Request) -> Response:
        return render(request, "lag.html", sampled=dash.lag.latest if dash.lag else None)

    @router.get("/schedules", response_class=HTMLResponse)
    async def schedules(request: Request) -> Response:
        latest = dash.lag.latest if dash.lag else None
        rows = await asyncio.to_thread(
            schedule_rows, dash.settings, dash.engine, latest, datetime.now(UTC)
        )
        return render(request, "schedules.html", rows=rows)


def _time(text: str) -> datetime | None:
    """A time from the form's ``datetime-local`` field, taken as UTC, or an ISO-8601 time."""
    if not text.strip():
        return None
    try:
        at = datetime.fromisoformat(text.strip())
    except ValueError as exc:
        raise HTTPException(422, f"not a time: {text!r}") from exc
    return at.replace(tzinfo=UTC) if at.tzinfo is None else at


def _cursor(text: str) -> tuple[datetime, str] | None:
    if not text:
        return None
    at, _, event_id = text.partition("|")
    moment = _time(at)
    return None if moment is None else (moment, event_id)


def _cursor_text(cursor: tuple[datetime, str] | None) -> str | None:
    return None if cursor is None else f"{cursor[0].isoformat()}|{cursor[1]}"
