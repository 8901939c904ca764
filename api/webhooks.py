"""What a job's status says of its webhook: the state of the delivery of its outcome."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from conveyor.config import Settings
from conveyor.store import JobRecord

__all__ = ["describe_delivery", "webhook_streams"]


def webhook_streams(settings: Settings) -> Callable[[str], bool]:
    """Whether a job of a stream may have a webhook: its stream declares one, or some key
    may name callbacks. The job view reads the delivery only then, so a deployment without
    webhooks pays nothing for them."""
    if settings.webhooks.stream not in settings.streams:
        return lambda _stream: False
    if any(key.callback_hosts for key in settings.api.keys):
        return lambda _stream: True
    declaring = {s.name for s in settings.streams.values() if s.webhook is not None}
    return declaring.__contains__


def describe_delivery(delivery: JobRecord) -> dict[str, Any]:
    """The ``webhook`` of a job's view: ``processing`` while it is tried (``attempts``
    made, the last ``error``), then ``succeeded`` (the receiver's ``status_code``) or
    ``dead_lettered`` (why)."""
    view: dict[str, Any] = {"status": delivery.status.value, "attempts": delivery.attempts}
    if delivery.result is not None:
        view["webhook_id"] = delivery.result.get("webhook_id")
        view["status_code"] = delivery.result.get("status_code")
    if delivery.error is not None:
        view["error"] = delivery.error
    view["updated_at"] = delivery.updated_at.isoformat()
    return view
