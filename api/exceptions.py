"""The API's errors: refusals of requests (typed, with the status, the reason and any
headers to send), and what stops the API from starting."""

from __future__ import annotations

from typing import Any

from conveyor.exceptions import ConveyorError

__all__ = [
    "ApiError",
    "ConflictError",
    "ForbiddenError",
    "InvalidEventsError",
    "NotFoundError",
    "OverloadedError",
    "RateLimitedError",
    "TooLargeError",
    "UnauthorizedError",
    "UnsafeBindError",
    "UnsupportedMediaTypeError",
]


class ApiError(ConveyorError):
    """An answer other than success; ``detail`` is the JSON body's ``detail``."""

    status = 500

    def __init__(self, detail: Any, headers: dict[str, str] | None = None) -> None:
        super().__init__(detail if isinstance(detail, str) else "request refused")
        self.detail = detail
        self.headers = headers or {}


class InvalidEventsError(ApiError):
    """422: the events do not match the stream's schema; ``detail`` lists every problem."""

    status = 422


class TooLargeError(ApiError):
    status = 413


class UnsupportedMediaTypeError(ApiError):
    status = 415


class NotFoundError(ApiError):
    status = 404


class ConflictError(ApiError):
    """409: the job is past what was asked of it; ``status`` is the one it is in."""

    status = 409

    def __init__(self, message: str, job_status: str) -> None:
        super().__init__({"message": message, "status": job_status})
        self.job_status = job_status


class UnauthorizedError(ApiError):
    status = 401

    def __init__(self, detail: str) -> None:
        super().__init__(detail, {"WWW-Authenticate": 'Bearer realm="conveyor"'})


class ForbiddenError(ApiError):
    status = 403


class RateLimitedError(ApiError):
    status = 429

    def __init__(self, detail: str, retry_after: int) -> None:
        super().__init__(detail, {"Retry-After": str(retry_after)})


class OverloadedError(ApiError):
    """503: not now (producer buffer full, backlog over its limit); retry after a pause."""

    status = 503

    def __init__(self, detail: Any, retry_after: int, reason: str) -> None:
        super().__init__(detail, {"Retry-After": str(retry_after)})
        self.reason = reason


class UnsafeBindError(ConveyorError):
    """Listening beyond loopback without API keys would expose every stream to anyone."""
