"""What an event carries for its webhook, and the ids its delivery goes by.

- ``conveyor.callback.url``: where to POST the job's outcome (the API writes it, from the
  ``Conveyor-Callback-Url`` header of a key allowed to name that host);
- ``conveyor.callback.signer``: whose secret signs it, ``key:<API key name>``.

A delivery is a job of the webhooks stream. Its ``event_id`` is the job's id, a space and
the status: no client's id holds a space (ids are visible ASCII), so a delivery never takes
an id another stream's job could own. Its ``webhook-id`` is the job's id, a dot and the
status: one per outcome, the same on every attempt, for the receiver to deduplicate on.
"""

from __future__ import annotations

__all__ = [
    "CALLBACK_SIGNER",
    "CALLBACK_URL",
    "delivery_id",
    "key_signer",
    "stream_signer",
    "webhook_id",
]

CALLBACK_URL = "conveyor.callback.url"
CALLBACK_SIGNER = "conveyor.callback.signer"


def delivery_id(job_id: str, status: str) -> str:
    """The event id of the delivery of ``job_id``'s outcome ``status``."""
    return f"{job_id} {status}"


def webhook_id(job_id: str, status: str) -> str:
    """The ``webhook-id`` header of ``job_id``'s outcome ``status``."""
    return f"{job_id}.{status}"


def key_signer(key_name: str) -> str:
    return f"key:{key_name}"


def stream_signer(stream: str) -> str:
    return f"stream:{stream}"
