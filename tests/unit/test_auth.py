"""API keys: hashed lookup, scopes, and the token bucket behind 429."""

from __future__ import annotations

import pytest
from starlette.datastructures import Headers

from conveyor.api.auth import Authenticator, hash_key
from conveyor.api.exceptions import ForbiddenError, RateLimitedError, UnauthorizedError
from conveyor.common.ratelimit import TokenBucket
from conveyor.config import ApiKey


def request(headers: dict[str, str]) -> Headers:
    """A request's headers, as the API's routes hand them to the authenticator."""
    raw = [(k.lower().encode(), v.encode()) for k, v in headers.items()]
    return Headers(raw=raw)


def test_a_full_bucket_grants_its_burst_then_says_how_long_to_wait() -> None:
    bucket = TokenBucket(rate=2.0, burst=2, stamp=100.0)

    assert bucket.take(100.0) == 0.0
    assert bucket.take(100.0) == 0.0
    assert bucket.take(100.0) == pytest.approx(0.5)
    assert bucket.take(100.5) == 0.0  # half a second refilled one token


def test_without_keys_everyone_may_post() -> None:
    auth = Authenticator(())

    assert auth.authenticate(request({})) is None
    auth.authorize(None, "orders")


def test_keys_are_checked_by_hash_and_scoped_to_streams() -> None:
    key = ApiKey(name="shop", sha256=hash_key("k-1"), streams=("orders",))
    auth = Authenticator((key,))

    assert auth.authenticate(request({"Authorization": "Bearer k-1"})) == key
    assert auth.authenticate(request({"X-API-Key": "k-1"})) == key
    with pytest.raises(UnauthorizedError):
        auth.authenticate(request({}))
    with pytest.raises(UnauthorizedError):
        auth.authenticate(request({"Authorization": "Bearer k-2"}))
    with pytest.raises(ForbiddenError, match="'shop' is not allowed to use stream 'mail'"):
        auth.authorize(key, "mail")


def test_a_key_is_authorized_as_the_first_of_several_streams_it_is_scoped_for() -> None:
    key = ApiKey(name="mailer", sha256=hash_key("k"), streams=("notifications",))

    assert Authenticator.authorize(key, "orders", "notifications") == "notifications"
    assert Authenticator.authorize(None, "orders", "notifications") == "orders"
    with pytest.raises(ForbiddenError, match="'mailer' is not allowed to use stream 'orders'"):
        Authenticator.authorize(key, "orders", "payments")


def test_a_key_over_its_rate_gets_429_with_a_whole_retry_after() -> None:
    key = ApiKey(name="slow", sha256=hash_key("k"), rate_per_second=0.5, burst=1)
    auth = Authenticator((key,))
    auth.authenticate(request({"Authorization": "Bearer k"}))

    with pytest.raises(RateLimitedError) as limited:
        auth.authenticate(request({"Authorization": "Bearer k"}))

    assert limited.value.headers["Retry-After"] == "2"
