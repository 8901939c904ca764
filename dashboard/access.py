"""Who is looking: the API's own keys, presented by a browser in a cookie.

A browser cannot send an ``Authorization`` header on a plain navigation, so the login form
puts the key in a cookie (``HttpOnly``: no script reads it; ``SameSite=Strict``: no other
site's page sends it). The key is checked by the API's authenticator, the same lookup and
rate limit as every API request. Actions also need the ``HX-Request`` header, which htmx
sends and a form posted from elsewhere cannot.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from fastapi import HTTPException
from starlette.requests import Request

from conveyor.config import ApiKey

__all__ = ["COOKIE", "KeyCheck", "Viewer", "presented_key"]

COOKIE = "conveyor_key"

# The API's authenticator: the presented key (None: none) to its entry, None when no keys
# are configured; raises the API's 401 or 429 itself.
KeyCheck = Callable[[str | None], ApiKey | None]


@dataclass(frozen=True)
class Viewer:
    key: ApiKey | None  # None: no keys are configured, so everyone on loopback may act

    @property
    def name(self) -> str:
        return self.key.name if self.key else "anyone (no keys configured)"

    @property
    def may_act(self) -> bool:
        return self.key is None or self.key.operator

    def require_operator(self, request: Request) -> None:
        """403 unless this viewer may act and the request came from the dashboard's page."""
        if request.headers.get("hx-request") != "true":
            raise HTTPException(403, "dashboard actions are sent by the dashboard's own page")
        if not self.may_act:
            raise HTTPException(403, f"key {self.name!r} has no operator scope")


def presented_key(request: Request) -> str | None:
    """The key the login form left in the cookie."""
    return request.cookies.get(COOKIE) or None
