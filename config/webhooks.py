"""Webhooks: where a job's outcome is POSTed and with which secret it is signed.

A stream may declare one webhook for all its jobs (``webhook: {url, secret}``); an API key
may let its events carry their own callback URL, to hosts its entry lists
(``callback_hosts``), signed with its ``webhook_secret``. Secrets are Standard Webhooks'
``whsec_`` and the base64 of 24 to 64 random bytes.
"""

from __future__ import annotations

import base64
import binascii
import re
from typing import Annotated
from urllib.parse import urlsplit

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, SecretStr

__all__ = [
    "CallbackHost",
    "StreamWebhook",
    "WebhookSecret",
    "WebhookSettings",
    "callback_url_problem",
    "host_allowed",
]

_SECRET_PREFIX = "whsec_"  # noqa: S105 - the prefix, not a secret

# A host name or IP literal, or ``*.`` and a domain: what a key's callbacks may name.
_HOST = re.compile(r"^(\*\.)?[a-z0-9]([a-z0-9.:-]*[a-z0-9])?$")


def _check_secret(secret: SecretStr) -> SecretStr:
    value = secret.get_secret_value()
    if not value.startswith(_SECRET_PREFIX):
        raise ValueError(f"a webhook secret starts with {_SECRET_PREFIX!r}")
    try:
        key = base64.b64decode(value[len(_SECRET_PREFIX) :], validate=True)
    except binascii.Error:
        raise ValueError("a webhook secret is whsec_ and base64") from None
    if not 24 <= len(key) <= 64:
        # The Standard Webhooks specification's bounds for a symmetric secret.
        raise ValueError("a webhook secret holds 24 to 64 bytes")
    return secret


# ``whsec_<base64>``; never logged, and masked wherever settings are shown.
WebhookSecret = Annotated[SecretStr, AfterValidator(_check_secret)]


def _check_host(host: str) -> str:
    host = host.strip().lower()
    if not _HOST.match(host):
        raise ValueError(f"callback host {host!r}: a host name, an IP address or *.domain")
    return host


CallbackHost = Annotated[str, AfterValidator(_check_host)]


def callback_url_problem(url: str) -> str | None:
    """Why ``url`` cannot be a webhook's target, or None if it can: http or https, a host,
    no credentials (they would ride in every log line that names the target)."""
    if len(url) > 2048:
        return "a callback URL is at most 2048 characters"
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - raises on a port that is not a number
    except ValueError as exc:
        return f"not a URL: {exc}"
    checks = (
        (parts.scheme in ("http", "https"), "a callback URL is http:// or https://"),
        (bool(parts.hostname), "a callback URL names a host"),
        (
            parts.username is None and parts.password is None,
            "a callback URL may not hold credentials",
        ),
        (not parts.fragment, "a callback URL has no fragment"),
    )
    return next((reason for passed, reason in checks if not passed), None)


def host_allowed(host: str, allowed: tuple[str, ...]) -> bool:
    """Whether ``host`` is one of ``allowed``: the same name, or under a ``*.domain``."""
    host = host.lower().rstrip(".")
    return any(
        host.endswith(entry[1:]) if entry.startswith("*.") else host == entry for entry in allowed
    )


def _check_url(url: str) -> str:
    problem = callback_url_problem(url)
    if problem is not None:
        raise ValueError(problem)
    return url


class StreamWebhook(BaseModel):
    """A stream's webhook: every job of the stream that ends is POSTed here (unless its
    event carried its own callback), signed with ``secret``."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    url: Annotated[str, AfterValidator(_check_url)]
    secret: WebhookSecret


class WebhookSettings(BaseModel):
    """How the workers deliver webhooks."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    # The stream whose jobs are the deliveries (config/streams.yaml); undeclared, no job
    # has a webhook and the API refuses callbacks.
    stream: str = "webhooks"
    # Targets that resolve to loopback, private, link-local, multicast or reserved
    # addresses are refused (dead-lettered) unless this is on: a webhook must not become a
    # way into the operator's own network. Tests on loopback turn it on.
    allow_private_targets: bool = False
    # One POST, connecting included; past it the delivery is retried.
    timeout_seconds: float = Field(default=10.0, gt=0)
