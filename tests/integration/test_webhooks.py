"""Webhooks end to end: a real receiver on loopback, a real broker and worker processes."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

from fastapi.testclient import TestClient

from conveyor.api import create_app
from conveyor.config import Settings
from conveyor.infra.processes import free_port_block
from support.events import orders_json
from support.waiting import wait_for
from support.webhook_receiver import WebhookReceiver, signature_valid
from support.webhooks import KEYS, PLAIN, SECRET, SHOP, STREAM_SECRET, webhook_stack


def _webhook_of(stack: Any, event_id: str, status: str) -> dict[str, Any] | None:
    webhook = stack.job(event_id).get("webhook")
    return webhook if webhook and webhook["status"] == status else None


def test_outcomes_are_posted_signed_once_and_a_failing_receiver_is_retried_then_dead_lettered(
    stack_settings: Callable[..., Settings], tmp_path: Path
) -> None:
    port = free_port_block(3)
    receiver = WebhookReceiver(port, tmp_path / "hooks.jsonl")
    failing = WebhookReceiver(port + 1, tmp_path / "failing.jsonl")
    streamwide = WebhookReceiver(port + 2, tmp_path / "stream.jsonl")
    failing.status = 503
    orders = {"webhook": {"url": streamwide.url, "secret": STREAM_SECRET}}
    with (
        receiver,
        failing,
        streamwide,
        webhook_stack(stack_settings, tmp_path, orders=orders) as stack,
    ):
        first, second, third = orders_json(3, seed=5)
        sent = stack.post("orders", first, receiver.url)
        assert sent.status_code == 202, sent.text
        ok_id = sent.json()["event_id"]
        failed_id = stack.post("orders", second, failing.url).json()["event_id"]
        stream_id = stack.post("orders", third, None).json()["event_id"]

        delivered = wait_for(
            lambda: _webhook_of(stack, ok_id, "succeeded"), timeout=120, what="the webhook"
        )
        assert delivered["attempts"] == 1
        assert delivered["webhook_id"] == f"{ok_id}.succeeded"
        dead = wait_for(
            lambda: _webhook_of(stack, failed_id, "dead_lettered"),
            timeout=120,
            what="the failing receiver's webhook dead-lettered",
        )
        assert dead["attempts"] == 3
        assert "HTTP 503" in dead["error"]
        wait_for(lambda: _webhook_of(stack, stream_id, "succeeded"), timeout=120, what="stream's")

    [post] = receiver.received()
    headers = post["headers"]
    assert headers["webhook-id"] == f"{ok_id}.succeeded"
    assert headers["content-type"] == "application/json"
    assert signature_valid(SECRET, post)
    assert not signature_valid(STREAM_SECRET, post)
    body = json.loads(post["body"])
    assert body["type"] == "job.succeeded"
    assert body["data"]["event_id"] == ok_id
    assert body["data"]["stream"] == "orders"
    assert body["data"]["result"]["item_count"] == sum(i["quantity"] for i in first["items"])

    tries = failing.received()
    assert len(tries) == 3
    assert {t["headers"]["webhook-id"] for t in tries} == {f"{failed_id}.succeeded"}
    assert all(signature_valid(SECRET, t) for t in tries)

    # The stream's own webhook, for the job whose event named none, signed with its secret.
    [streamed] = streamwide.received()
    assert streamed["headers"]["webhook-id"] == f"{stream_id}.succeeded"
    assert signature_valid(STREAM_SECRET, streamed)


def test_a_private_target_is_dead_lettered_with_the_reason_unless_the_operator_allows_it(
    stack_settings: Callable[..., Settings], tmp_path: Path
) -> None:
    with (
        WebhookReceiver(free_port_block(1), tmp_path / "hooks.jsonl") as receiver,
        webhook_stack(stack_settings, tmp_path, allow_private=False) as stack,
    ):
        event_id = stack.post("orders", orders_json(1, seed=6)[0], receiver.url).json()["event_id"]
        dead = wait_for(
            lambda: _webhook_of(stack, event_id, "dead_lettered"), timeout=120, what="refused"
        )
    assert dead["attempts"] == 1
    assert dead["error"] == "TargetRefusedError: 127.0.0.1 is a loopback address"
    assert receiver.received() == []


def test_a_callback_is_refused_with_422_for_a_key_that_lists_no_callback_hosts(
    stack_settings: Callable[..., Settings],
) -> None:
    settings = stack_settings(api={"keys": KEYS})
    order = orders_json(1, seed=7)[0]
    with TestClient(create_app(settings)) as api:

        def post(key: str, url: str) -> Any:
            return api.post(
                "/v1/streams/orders/events",
                json=order,
                headers={"authorization": f"Bearer {key}", "conveyor-callback-url": url},
            )

        refused = post(PLAIN, "http://127.0.0.1:9/hook")
        assert refused.status_code == 422
        [problem] = refused.json()["detail"]
        assert problem["loc"] == ["header", "Conveyor-Callback-Url"]
        assert "callback_hosts" in problem["msg"]
        elsewhere = post(SHOP, "https://hooks.example.com/in")
        assert elsewhere.status_code == 422
        assert "may not call back to host" in elsewhere.json()["detail"][0]["msg"]
        # The deliveries' stream is the workers' own: no route.
        assert api.post("/v1/streams/webhooks/events", json={}).status_code in (401, 404)
        assert post(SHOP, "http://127.0.0.1:9/hook").status_code == 202
