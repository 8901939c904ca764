"""API keys with per-stream scopes, and a token bucket per key.

Keys are looked up by their SHA-256, so the key itself is never stored, compared
or logged; only the key's name appears in logs.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Mapping

from conveyor.api.exceptions import ForbiddenError, RateLimitedError, UnauthorizedError
from conveyor.common.ratelimit import TokenBucket
from conveyor.config import ApiKey

__all__ = ["Authenticator", "hash_key"]


def hash_key(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


class Authenticator:
    """Decides who may post to which stream; with no keys configured, everyone may."""

    def __init__(self, keys: tuple[ApiKey, ...]) -> None:
        self._keys = {k.sha256: k for k in keys}
        self._buckets = {k.sha256: TokenBucket(k.rate_per_second, k.burst) for k in keys}

    @property
    def enabled(self) -> bool:
        return bool(self._keys)

    def authenticate(self, headers: Mapping[str, str]) -> ApiKey | None:
        """The key a request's ``headers`` present (401 if missing or unknown), charged one
        request (429 if over). Header names are looked up lowercase, as ASGI servers give them."""
        return self.check(_presented_key(headers))

    def check(self, presented: str | None) -> ApiKey | None:
        """The entry of the ``presented`` key (401 if missing or unknown), charged one
        request (429 if over); None if no keys are configured."""
        if not self.enabled:
            return None
        if presented is None:
            raise UnauthorizedError("an API key is required: Authorization: Bearer <key>")
        digest = hash_key(presented)
        key = self._keys.get(digest)
        if key is None:
            raise UnauthorizedError("the API key is not valid")
        wait = self._buckets[digest].take()
        if wait > 0:
            raise RateLimitedError(
                f"key {key.name!r} is over its rate of {key.rate_per_second:g} requests/s",
                retry_after=max(1, math.ceil(wait)),
            )
        return key

    @staticmethod
    def authorize(key: ApiKey | None, stream: str, *others: str) -> str:
        """The first of ``stream, *others`` that ``key`` is scoped for; 403 if none is."""
        if key is None:
            return stream
        for candidate in (stream, *others):
            if key.may_post_to(candidate):
                return candidate
        names = ", ".join(repr(name) for name in (stream, *others))
        raise ForbiddenError(f"key {key.name!r} is not allowed to use stream {names}")


def _presented_key(headers: Mapping[str, str]) -> str | None:
    header = headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() == "bearer" and token.strip():
        return token.strip()
    return headers.get("x-api-key") or None
