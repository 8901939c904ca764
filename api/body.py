"""Reading a request's events: size limits first, then JSON or NDJSON, then the schema.

Everything here happens before anything is produced: a request is refused whole,
with every problem listed, or its events are all valid. Parsing and validation run
in one pass inside pydantic-core (``validate_json``), which is what makes a batch
of hundreds of events cheap.
"""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import Field, TypeAdapter, ValidationError
from pydantic_core import ErrorDetails
from starlette.requests import ClientDisconnect
from starlette.types import Receive

from conveyor.api.exceptions import InvalidEventsError, TooLargeError, UnsupportedMediaTypeError

__all__ = ["NDJSON", "EventReader", "ParsedBody", "problem", "read_limited"]

NDJSON = "application/x-ndjson"


class ParsedBody:
    """The validated events of a request and whether it was a batch."""

    def __init__(self, events: list[dict[str, Any]], batch: bool) -> None:
        self.events = events
        self.batch = batch


async def read_limited(receive: Receive, declared: str | None, limit: int) -> bytes:
    """The body, from the ASGI ``receive``, refusing with 413 as soon as it passes ``limit``
    bytes, or at once if its ``content-length`` (``declared``) does; ClientDisconnect if
    the client leaves first."""
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise TooLargeError(f"request body is {declared} bytes; the limit is {limit} bytes")
    chunks = []
    size = 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            raise ClientDisconnect
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            raise TooLargeError(f"request body exceeds the limit of {limit} bytes")
        chunks.append(chunk)
        if not message.get("more_body", False):
            # Most bodies come in one message: no copy then.
            return chunks[0] if len(chunks) == 1 else b"".join(chunks)


class EventReader:
    """Turns request bodies into validated events of one model."""

    def __init__(self, event: Any, max_items: int) -> None:
        """``event`` is a stream's event type (:func:`conveyor.schemas.models.event_type`)."""
        self._max_items = max_items
        self._single: TypeAdapter[dict[str, Any]] = TypeAdapter(event)
        self._batch: TypeAdapter[list[dict[str, Any]]] = TypeAdapter(
            Annotated[list[event], Field(max_length=max_items)]
        )

    def read(self, body: bytes, content_type: str) -> ParsedBody:
        """The events of ``body``, or raise with every item's problems."""
        media = content_type.split(";", 1)[0].strip().lower()
        if media == NDJSON:
            return self._ndjson(body)
        if media not in ("application/json", ""):
            raise UnsupportedMediaTypeError(
                f"content type {media!r} is not accepted; send application/json or {NDJSON}"
            )
        first = body.lstrip()[:1]
        if first == b"[":
            try:
                events = self._batch.validate_json(body)
            except ValidationError as exc:
                raise self._refusal(exc.errors(include_url=False), batch=True) from None
            if not events:
                raise InvalidEventsError(
                    [problem(None, [], "no events in the request body", "empty")]
                )
            return ParsedBody(events, batch=True)
        if first == b"{":
            try:
                return ParsedBody([self._single.validate_json(body)], batch=False)
            except ValidationError as exc:
                raise self._refusal(exc.errors(include_url=False), batch=False) from None
        reason = (
            "no events in the request body"
            if not first
            else ("expected a JSON object or an array of objects")
        )
        raise InvalidEventsError([problem(None, [], reason, "body_type")])

    def _ndjson(self, body: bytes) -> ParsedBody:
        lines = [line for line in body.splitlines() if line.strip()]
        if len(lines) > self._max_items:
            raise self._too_many(len(lines))
        if not lines:
            raise InvalidEventsError([problem(None, [], "no events in the request body", "empty")])
        events = []
        problems: list[dict[str, Any]] = []
        for index, line in enumerate(lines):
            try:
                events.append(self._single.validate_json(line))
            except ValidationError as exc:
                problems += [
                    problem(index, list(e["loc"]), e["msg"], e["type"])
                    for e in exc.errors(include_url=False)
                ]
        if problems:
            raise InvalidEventsError(problems)
        return ParsedBody(events, batch=True)

    def _refusal(self, errors: list[ErrorDetails], batch: bool) -> Exception:
        if any(e["type"] == "too_long" and not e["loc"] for e in errors):
            return self._too_many(None)
        problems = []
        for e in errors:
            loc = list(e["loc"])
            index: int | None = None
            if batch and loc and isinstance(loc[0], int):
                index, loc = loc[0], loc[1:]
            problems.append(problem(index, loc, e["msg"], e["type"]))
        return InvalidEventsError(problems)

    def _too_many(self, count: int | None) -> TooLargeError:
        counted = f"{count} events" if count is not None else "too many events"
        return TooLargeError(f"{counted} in one request; the limit is {self._max_items}")


def problem(index: int | None, loc: list[Any], msg: str, kind: str) -> dict[str, Any]:
    """One problem: which item (``index``, for batches), which field (``loc``), and why."""
    problem: dict[str, Any] = {"loc": loc, "msg": msg, "type": kind}
    if index is not None:
        problem["index"] = index
    return problem
