"""What an operator may do from the dashboard: log in, redrive dead letters, cancel jobs.

A redrive is :func:`conveyor.ops.redrive.redrive`, the function ``conveyor dlq redrive``
calls: the same ledger, fencing and reopened jobs, whichever of the two an operator uses.
"""

from __future__ import annotations

import asyncio
import html
from typing import TYPE_CHECKING
from urllib.parse import parse_qs

from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from conveyor.dashboard.access import COOKIE, Viewer
from conveyor.dashboard.pages import viewer_of
from conveyor.exceptions import ConveyorError
from conveyor.ops.redrive import Selection, redrive

if TYPE_CHECKING:
    from conveyor.dashboard.app import Dashboard

__all__ = ["add_actions"]


def add_actions(router: APIRouter, dash: Dashboard) -> None:
    prefix = router.prefix

    def operator(request: Request) -> Viewer:
        viewer = viewer_of(dash, request)
        if viewer is None:
            raise HTTPException(401, "log in with an API key first")
        viewer.require_operator(request)
        return viewer

    def login_form(request: Request, refused: str | None = None, status: int = 200) -> Response:
        context = {"prefix": prefix, "viewer": None, "fragment": False, "refused": refused}
        return dash.templates.TemplateResponse(request, "login.html", context, status_code=status)

    @router.get("/login", response_class=HTMLResponse)
    async def login_page(request: Request) -> Response:
        return login_form(request)

    @router.post("/login")
    async def login(request: Request) -> Response:
        key = (await _form(request)).get("key", [""])[0].strip()
        try:
            dash.check(key or None)
        except ConveyorError as exc:
            # The API's 401 (a key it does not know) or 429, said on the form a person is
            # looking at rather than as the API's JSON.
            return login_form(request, str(exc), getattr(exc, "status", 401))
        response = RedirectResponse(prefix, status_code=303)
        response.set_cookie(COOKIE, key, path=prefix, httponly=True, samesite="strict")
        return response

    @router.post("/logout")
    async def logout() -> Response:
        response = RedirectResponse(f"{prefix}/login", status_code=303)
        response.delete_cookie(COOKIE, path=prefix)
        return response

    @router.post("/dead-letters/{stream}/redrive", response_class=HTMLResponse)
    async def redrive_letters(request: Request, stream: str) -> Response:
        """Redrive the dead letters of the ids given, or of an error type (the group)."""
        viewer = operator(request)
        declared = dash.settings.streams.get(stream)
        if declared is None:
            raise HTTPException(404, f"no stream {stream!r}")
        form = await _form(request)
        selection = Selection(
            errors=frozenset(form.get("error", ())), event_ids=frozenset(form.get("event_id", ()))
        )
        if selection.empty:
            raise HTTPException(422, "choose dead letters: tick some, or redrive a group")
        plan, reopened = await asyncio.to_thread(
            redrive, dash.settings, declared, selection, dash.store
        )
        context = {
            "plan": plan,
            "reopened": len(reopened),
            "viewer": viewer,
            "prefix": prefix,
            "fragment": True,
        }
        return dash.templates.TemplateResponse(request, "redriven.html", context)

    @router.post("/jobs/{event_id:path}/cancel", response_class=HTMLResponse)
    async def cancel(request: Request, event_id: str) -> Response:
        operator(request)
        if dash.cancel is None:
            raise HTTPException(404, "this API cannot cancel jobs")
        status = await dash.cancel(event_id)
        shown = html.escape(status)
        return HTMLResponse(f"<span class='status {shown}'>{shown}</span>")


async def _form(request: Request) -> dict[str, list[str]]:
    """The form htmx and the login page post (urlencoded): parsed here rather than by
    FastAPI's ``Form``, which would need python-multipart for these few fields."""
    return parse_qs((await request.body()).decode())
