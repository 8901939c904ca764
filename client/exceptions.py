"""Errors of the API's Python client."""

from __future__ import annotations

from typing import Any

from conveyor.exceptions import ConveyorError

__all__ = ["ApiRefusedError", "ApiUnavailableError", "ClientError", "JobWaitTimeoutError"]


class ClientError(ConveyorError):
    """A request to the API did not get the answer it needed."""


class ApiRefusedError(ClientError):
    """The API refused a request for good (4xx other than 429); ``detail`` says why."""

    def __init__(self, status: int, detail: object) -> None:
        super().__init__(f"the API answered {status}: {_readable(detail)}")
        self.status = status
        self.detail = detail


class ApiUnavailableError(ClientError):
    """The API kept answering 503/429 or could not be reached, through every retry."""


class JobWaitTimeoutError(ClientError, TimeoutError):
    """A job was not final when the caller's wait ran out; ``job`` is its last view."""

    def __init__(self, event_id: str, job: dict[str, Any]) -> None:
        super().__init__(f"job {event_id!r} still {job.get('status')} when the wait ran out")
        self.job = job


def _readable(detail: object) -> str:
    """A 422's problem list as ``[index] field.path: reason``; anything else as it is."""
    if isinstance(detail, list):
        return "; ".join(
            f"[{p.get('index', 0)}] {'.'.join(str(x) for x in p.get('loc', []))}: {p.get('msg')}"
            for p in detail
            if isinstance(p, dict)
        )
    return str(detail)
