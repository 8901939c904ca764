"""Webhooks: POST a job's outcome to its callback, signed in the Standard Webhooks shape.

Each event of the webhooks stream is one delivery (``processors/webhooks.py`` queues it
when its job settles). Its ``webhook-id`` is the job's id and status, the same on every
attempt; ``webhook-timestamp`` is the attempt's time and ``webhook-signature`` signs
``{webhook-id}.{timestamp}.{body}`` with HMAC-SHA256 under the secret of the API key
that named the callback (or of the stream that declared it), so a receiver checks it,
refuses old timestamps and deduplicates on the id. A 2xx answer delivers it; anything
else (another status, a timeout, a refused connection) is a passing failure, retried by
the stream's retry tiers with exponential backoff and jitter, then dead-lettered; a target
refused by the SSRF guard (``webhook_targets.py``), ``410 Gone``, or a signer whose secret
is no longer configured is dead-lettered at once.
"""

from __future__ import annotations

from datetime import UTC, datetime
from urllib.parse import urlsplit

import aiohttp
from standardwebhooks import Webhook

from conveyor.config.webhooks import callback_url_problem
from conveyor.kafka.events import Event
from conveyor.kafka.webhooks import key_signer, stream_signer
from conveyor.processors.exceptions import PoisonError, RetryLater
from conveyor.processors.handler import Handler, HandlerContext, Processed
from conveyor.processors.pipeline.webhook_targets import (
    GuardedResolver,
    TargetRefusedError,
    check_literal,
)

__all__ = ["TargetRefusedError", "WebhookHandler", "signers"]

# What is read of a receiver's answer: its status is what counts.
_ANSWER_BYTES = 4096


def signers(context: HandlerContext) -> dict[str, Webhook]:
    """Each signer a delivery may name, with its secret: the keys' and the streams'."""
    settings = context.settings
    found = {
        key_signer(key.name): Webhook(key.webhook_secret.get_secret_value())
        for key in settings.api.keys
        if key.webhook_secret is not None
    }
    found.update(
        (stream_signer(stream.name), Webhook(stream.webhook.secret.get_secret_value()))
        for stream in settings.streams.values()
        if stream.webhook is not None
    )
    return found


class WebhookHandler(Handler):
    def __init__(self, context: HandlerContext) -> None:
        super().__init__(context)
        hooks = context.settings.webhooks
        self._guarded = not hooks.allow_private_targets
        self._timeout = aiohttp.ClientTimeout(total=hooks.timeout_seconds)
        self._signers = signers(context)
        self._session: aiohttp.ClientSession | None = None  # made on the worker's loop

    def close(self) -> None:
        # Called once the worker's loop stopped: the connector's sockets close at once.
        session = self._session
        if session is not None and session.connector is not None:
            # No loop is left to await close(): the sockets close now.
            session.connector._close()
            session.detach()

    async def process(self, event: Event) -> Processed:
        value = event.value
        url, hook_id = value["url"], value["webhook_id"]
        webhook = self._signers.get(value["signer"])
        if webhook is None:
            raise PoisonError(f"no webhook secret is configured for {value['signer']}")
        problem = callback_url_problem(url)
        if problem is not None:
            raise PoisonError(f"callback URL refused: {problem}")
        if self._guarded:
            check_literal(urlsplit(url).hostname or "")
        body = value["payload"].encode()
        now = datetime.now(UTC)
        headers = {
            "content-type": "application/json",
            "user-agent": "conveyor-webhooks",
            "webhook-id": hook_id,
            "webhook-timestamp": str(int(now.timestamp())),
            "webhook-signature": webhook.sign(hook_id, now, body),
        }
        try:
            async with self._client().post(
                url, data=body, headers=headers, allow_redirects=False
            ) as answer:
                status = answer.status
                await answer.content.read(_ANSWER_BYTES)
        except TargetRefusedError:
            raise
        except (aiohttp.ClientError, TimeoutError) as exc:
            raise RetryLater(f"POST {url}: {type(exc).__name__}: {exc}") from exc
        if 200 <= status < 300:
            return Processed({"url": url, "webhook_id": hook_id, "status_code": status})
        if status == 410:
            raise PoisonError(f"POST {url}: 410 Gone, the receiver is gone for good")
        # 3xx too: redirects are not followed, they could lead anywhere.
        raise RetryLater(f"POST {url}: HTTP {status}")

    def _client(self) -> aiohttp.ClientSession:
        if self._session is None:
            connector = aiohttp.TCPConnector(
                limit=self.context.stream.concurrency,
                resolver=GuardedResolver() if self._guarded else None,
            )
            self._session = aiohttp.ClientSession(
                connector=connector, timeout=self._timeout, cookie_jar=aiohttp.DummyCookieJar()
            )
        return self._session
