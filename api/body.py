"""Reading a request's events: size limits first, then JSON or NDJSON, then the schema.

Everything here happens before anything is produced: a request is refused whole,
with every problem listed, or its events are all valid.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ValidationError
from pydantic_core import from_json
from starlette.requests import Request

from conveyor.api.errors import InvalidEventsError, TooLargeError, UnsupportedMediaTypeError

__all__ = ["NDJSON", "ParsedBody", "parse_events", "read_limited"]

NDJSON = "application/x-ndjson"


class ParsedBody:
    """The validated events of a request and whether it was a batch."""

    def __init__(self, events: list[BaseModel], batch: bool) -> None:
        self.events = events
        self.batch = batch


async def read_limited(request: Request, limit: int) -> bytes:
    """The body, refusing with 413 as soon as it passes ``limit`` bytes."""
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise TooLargeError(f"request body is {declared} bytes; the limit is {limit} bytes")
    chunks = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise TooLargeError(f"request body exceeds the limit of {limit} bytes")
        chunks.append(chunk)
    return b"".join(chunks)


def parse_events(
    body: bytes, content_type: str, model: type[BaseModel], max_items: int
) -> ParsedBody:
    """Turn a body into validated events, or raise with every item's problems."""
    media = content_type.split(";", 1)[0].strip().lower()
    if media == NDJSON:
        items, problems = _ndjson(body)
        batch = True
    elif media in ("application/json", ""):
        items, problems, batch = _json(body)
    else:
        raise UnsupportedMediaTypeError(
            f"content type {media!r} is not accepted; send application/json or {NDJSON}"
        )
    if len(items) > max_items:
        raise TooLargeError(f"{len(items)} events in one request; the limit is {max_items}")
    if not items and not problems:
        raise InvalidEventsError([_problem(None, [], "no events in the request body", "empty")])
    events: list[BaseModel] = []
    for index, item in enumerate(items):
        if item is None:
            continue  # a line that was not JSON, already in problems
        try:
            events.append(model.model_validate(item))
        except ValidationError as exc:
            problems += [
                _problem(index if batch else None, list(e["loc"]), e["msg"], e["type"])
                for e in exc.errors(include_url=False)
            ]
    if problems:
        raise InvalidEventsError(problems)
    return ParsedBody(events, batch)


def _json(body: bytes) -> tuple[list[Any], list[dict[str, Any]], bool]:
    try:
        parsed = from_json(body)
    except ValueError as exc:
        return [], [_problem(None, [], f"invalid JSON: {exc}", "json_invalid")], False
    if isinstance(parsed, list):
        return parsed, [], True
    if isinstance(parsed, dict):
        return [parsed], [], False
    return (
        [],
        [_problem(None, [], "expected a JSON object or an array of objects", "body_type")],
        False,
    )


def _ndjson(body: bytes) -> tuple[list[Any], list[dict[str, Any]]]:
    items: list[Any] = []
    problems = []
    for line in body.splitlines():
        if not line.strip():
            continue
        try:
            items.append(from_json(line))
        except ValueError as exc:
            problems.append(_problem(len(items), [], f"invalid JSON: {exc}", "json_invalid"))
            items.append(None)
    return items, problems


def _problem(index: int | None, loc: list[Any], msg: str, kind: str) -> dict[str, Any]:
    """One problem: which item (``index``, for batches), which field (``loc``), and why."""
    problem: dict[str, Any] = {"loc": loc, "msg": msg, "type": kind}
    if index is not None:
        problem["index"] = index
    return problem
