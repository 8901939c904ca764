"""A test's stack for webhooks: API keys that may name callbacks on loopback, the API
in-process and worker processes, deliveries retried within seconds."""

from __future__ import annotations

import subprocess
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from fastapi.testclient import TestClient

from conveyor.api import create_app
from conveyor.api.auth import hash_key
from conveyor.config import ApiKey, Settings
from support.workers import running_workers

SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
STREAM_SECRET = "whsec_c3RyZWFtLXNlY3JldC1vZi10aGUtb3JkZXJzLXN0cmVhbQ=="
SHOP = "cvy-test-shop-key"  # may call back to loopback
PLAIN = "cvy-test-plain-key"  # may not name callbacks

KEYS = (
    ApiKey(
        name="shop",
        sha256=hash_key(SHOP),
        callback_hosts=("127.0.0.1",),
        webhook_secret=SECRET,  # type: ignore[arg-type]  # validated into a SecretStr
        rate_per_second=100_000,
        burst=100_000,
    ),
    ApiKey(name="plain", sha256=hash_key(PLAIN)),
)

# Deliveries retried within seconds, not hours.
QUICK_RETRIES = {"retry": {"attempts": 3, "backoff_seconds": 0.2, "max_backoff_seconds": 1}}


@dataclass
class WebhookStack:
    settings: Settings
    api: TestClient
    workers: list[subprocess.Popen[bytes]]

    def post(self, stream: str, events: Any, callback: str | None, key: str = SHOP) -> Any:
        headers = {"authorization": f"Bearer {key}"}
        if callback is not None:
            headers["conveyor-callback-url"] = callback
        return self.api.post(f"/v1/streams/{stream}/events", json=events, headers=headers)

    def job(self, event_id: str) -> dict[str, Any]:
        response = self.api.get(f"/v1/jobs/{event_id}", headers={"authorization": f"Bearer {SHOP}"})
        assert response.status_code == 200, response.text
        job: dict[str, Any] = response.json()
        return job


@contextmanager
def webhook_stack(
    stack_settings: Callable[..., Settings],
    directory: Path,
    *,
    allow_private: bool = True,
    workers: int = 1,
    **streams: dict[str, Any],
) -> Iterator[WebhookStack]:
    """The API and ``workers`` worker processes on fresh topics, with :data:`KEYS`."""
    base = stack_settings(api={"keys": KEYS}, **{"webhooks": QUICK_RETRIES, **streams})
    settings = base.model_copy(
        update={
            "webhooks": base.webhooks.model_copy(update={"allow_private_targets": allow_private})
        }
    )
    with (
        TestClient(create_app(settings)) as client,
        running_workers(settings, directory, workers) as processes,
    ):
        yield WebhookStack(settings, client, processes)
