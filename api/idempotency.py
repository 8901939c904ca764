"""The ``Idempotency-Key`` header: an ``event_id`` by the same rule, for one request only.

The key names the request's events (``key``, or ``key:index`` for each event of a batch
of several), so it obeys the rule an ``event_id`` obeys, and so do the ids it makes. A
key sent again with the same request gets the same ids, which the sinks deduplicate. A
key sent with a different request is refused with 422, as the IETF draft
(draft-ietf-httpapi-idempotency-key-header) has it: its events would get the first
request's ids, and the sinks would drop them as copies of the first request's events.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from typing import Any

from pydantic import TypeAdapter, ValidationError
from pydantic_core import to_jsonable_python

from conveyor.api.body import problem
from conveyor.api.callbacks import CALLBACK_HEADER
from conveyor.api.exceptions import InvalidEventsError
from conveyor.api.routing import NOT_BEFORE_HEADER, PRIORITY_HEADER
from conveyor.schemas.models import EVENT_ID_MAX_LENGTH, EventId

__all__ = [
    "IDEMPOTENCY_HEADER",
    "KEY_REUSED",
    "KEY_TOO_LONG_FOR_BATCH",
    "fingerprint",
    "key_schema",
    "keyed_id",
    "request_key",
    "reused",
]

IDEMPOTENCY_HEADER = "Idempotency-Key"
# As a request's headers are looked up: by their lowercase names, as ASGI servers give them.
_HEADER = IDEMPOTENCY_HEADER.lower()
# The types of the 422 problems only this header has.
KEY_REUSED = "idempotency_key_reused"
KEY_TOO_LONG_FOR_BATCH = "idempotency_key_too_long_for_batch"

_EVENT_ID: TypeAdapter[str] = TypeAdapter(EventId)


def key_schema() -> dict[str, Any]:
    """The header's JSON Schema: an ``event_id``'s."""
    return _EVENT_ID.json_schema()


def request_key(headers: Mapping[str, str], count: int) -> str | None:
    """The request's key, if it sent one, checked as an ``event_id`` and as the longest
    id it makes for ``count`` events; else 422 naming the header."""
    key = headers.get(_HEADER)
    if key is None:
        return None
    try:
        _EVENT_ID.validate_python(key)
    except ValidationError as exc:
        raise InvalidEventsError(
            [_problem(e["msg"], e["type"]) for e in exc.errors(include_url=False)]
        ) from None
    last = keyed_id(key, count - 1, count)
    if len(last) > EVENT_ID_MAX_LENGTH:
        raise InvalidEventsError(
            [
                _problem(
                    f"the key names the {count} events {key}:0 to {last}, and {len(last)} "
                    f"characters are over the {EVENT_ID_MAX_LENGTH} of an event_id",
                    KEY_TOO_LONG_FOR_BATCH,
                )
            ]
        )
    return key


def keyed_id(key: str, index: int, count: int) -> str:
    """The ``event_id`` the key gives the event at ``index`` of ``count``."""
    return key if count == 1 else f"{key}:{index}"


def fingerprint(stream: str, events: list[dict[str, Any]], headers: Mapping[str, str]) -> str:
    """What makes two requests under one key the same: the stream, the events as validated
    (so spacing, the order of fields, and NDJSON or array do not count) and the routing
    headers, which decide where the events go."""
    request: list[Any] = [
        stream,
        to_jsonable_python(events),
        headers.get(PRIORITY_HEADER),
        headers.get(NOT_BEFORE_HEADER),
    ]
    # Only when sent, so that the keys of requests without a callback keep their fingerprints.
    callback = headers.get(CALLBACK_HEADER)
    if callback is not None:
        request.append(callback)
    canonical = json.dumps(request, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()


def reused(key: str, first_stream: str, stream: str) -> InvalidEventsError:
    """The refusal of ``key``, first sent with another request (to ``first_stream``)."""
    where = "" if first_stream == stream else f" to stream {first_stream!r}"
    return InvalidEventsError(
        [
            _problem(
                f"key {key!r} was first sent with a different request{where}; a key stands "
                "for one request: send the same request again, or a new one under a new key",
                KEY_REUSED,
            )
        ]
    )


def _problem(msg: str, kind: str) -> dict[str, Any]:
    return problem(None, ["header", IDEMPOTENCY_HEADER], msg, kind)
