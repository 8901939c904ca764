"""The ``Conveyor-Callback-Url`` header: where the outcome of each of the request's events
is POSTed once its job ends, allowed only to keys whose entry lists the URL's host.

The URL rides to the worker in the records' ``conveyor.callback.url`` header with the key
that signs it (``conveyor.callback.signer``); whether the host resolves to an address the
workers may reach is decided at delivery, when it is resolved (``processors/pipeline/webhooks.py``).
"""

from __future__ import annotations

from urllib.parse import urlsplit

from conveyor.api.body import problem
from conveyor.api.exceptions import InvalidEventsError
from conveyor.config import ApiKey, Settings
from conveyor.config.webhooks import callback_url_problem, host_allowed
from conveyor.kafka.identity import KafkaHeaders
from conveyor.kafka.webhooks import CALLBACK_SIGNER, CALLBACK_URL, key_signer

__all__ = ["CALLBACK_HEADER", "callback_headers"]

CALLBACK_HEADER = "conveyor-callback-url"


def callback_headers(settings: Settings, key: ApiKey | None, url: str | None) -> KafkaHeaders:
    """The record headers that carry ``url`` (the request's header) to the worker; 422
    naming the header if the key may not call back there."""
    if url is None:
        return []
    if settings.webhooks.stream not in settings.streams:
        raise _refusal("webhooks are not enabled: no webhooks stream is declared")
    if key is None or not key.callback_hosts:
        raise _refusal(
            "callbacks need an API key whose entry lists callback_hosts (and a webhook_secret)"
        )
    reason = callback_url_problem(url)
    if reason is not None:
        raise _refusal(reason)
    host = urlsplit(url).hostname or ""
    if not host_allowed(host, key.callback_hosts):
        raise _refusal(f"key {key.name!r} may not call back to host {host!r}")
    return [(CALLBACK_URL, url.encode()), (CALLBACK_SIGNER, key_signer(key.name).encode())]


def _refusal(reason: str) -> InvalidEventsError:
    return InvalidEventsError(
        [problem(None, ["header", "Conveyor-Callback-Url"], reason, "header")]
    )
