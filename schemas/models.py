"""Event types derived from the Avro schemas: what the API validates and documents.

The ``.avsc`` file is the only place a stream's fields are written; this module
turns it into a strict ``TypedDict`` that pydantic validates, so validation at the
door and the OpenAPI document can never drift from what the Avro encoder accepts.
A ``TypedDict`` rather than a model: validation yields the plain dict the encoder
takes, without building and dumping an object per event. A field with an Avro
default may be left out; the encoder writes the schema's default.
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import Annotated, Any, Literal, NotRequired

from pydantic import AwareDatetime, BeforeValidator, ConfigDict, Field, TypeAdapter, with_config
from pydantic_core import PydanticCustomError

# typing.TypedDict lacks what pydantic needs before Python 3.12.
from typing_extensions import TypedDict

from conveyor.config import StreamDeclaration
from conveyor.config.delays import NOT_BEFORE_FIELD
from conveyor.config.priorities import PRIORITY_FIELD
from conveyor.schemas.exceptions import UnsupportedSchemaError

__all__ = [
    "EVENT_ID_FIELD",
    "EVENT_ID_MAX_LENGTH",
    "EventId",
    "Timestamp",
    "event_type",
    "json_schema",
]

# Every stream's schema carries the event's identity in this field. Clients may
# leave it out: the API fills it from the Idempotency-Key header or a new UUIDv7.
EVENT_ID_FIELD = "event_id"
EVENT_ID_MAX_LENGTH = 128
# Visible ASCII only: an id rides in Kafka headers, URLs and e-mail Message-IDs.
EventId = Annotated[
    str, Field(min_length=1, max_length=EVENT_ID_MAX_LENGTH, pattern=r"^[\x21-\x7e]+$")
]

# RFC 3339's date-time, with the space its section 5.6 allows for "T" (what Python's
# str(datetime) writes, and so what clients serializing with default=str send).
_RFC3339 = re.compile(
    r"\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}:\d{2}(?:\.\d+)?(?:[Zz]|[+-]\d{2}:\d{2})", re.ASCII
)


def _rfc3339(value: Any) -> Any:
    """Only RFC 3339 strings get to pydantic's datetime parsing, which would otherwise take
    numbers and numeric strings (``"1764583200"``) as Unix seconds or milliseconds, guessed
    from their size. Datetimes pass: they come from Python (schedules in the YAML)."""
    if isinstance(value, datetime) or (type(value) is str and _RFC3339.fullmatch(value)):
        return value
    raise PydanticCustomError(
        "datetime_type" if type(value) is not str else "datetime_parsing",
        "Input should be an RFC 3339 time with an offset, e.g. 2026-11-22T10:00:00Z",
    )


# A time as JSON carries it; strict=False lets pydantic parse the string even in strict mode.
Timestamp = Annotated[AwareDatetime, BeforeValidator(_rfc3339), Field(strict=False)]


def _integral(value: Any) -> Any:
    """A JSON number without a fractional part (``12.0``) is an integer in JSON Schema,
    so the OpenAPI document's ``integer`` allows it; strict validation alone refused it.
    Strings (``"12"``) and fractions stay refused. About 0.4 µs an order."""
    if type(value) is float and value.is_integer():
        return int(value)
    return value


_INT = Annotated[int, Field(ge=-(2**31), le=2**31 - 1), BeforeValidator(_integral)]
_LONG = Annotated[int, Field(ge=-(2**63), le=2**63 - 1), BeforeValidator(_integral)]
_PRIMITIVES: dict[str, Any] = {
    "string": str,
    "int": _INT,
    "long": _LONG,
    "float": float,
    "double": float,
    "boolean": bool,
}
_STRICT = ConfigDict(extra="forbid", strict=True)


def event_type(stream: StreamDeclaration) -> Any:
    """The strict ``TypedDict`` of one event of ``stream``, named after its Avro record,
    with the optional routing fields its priorities and delays call for."""
    schema = stream.avro_schema
    return _record(schema, top_level=True, routing=_routing_fields(stream))


def _routing_fields(stream: StreamDeclaration) -> dict[str, Any]:
    """Fields the API routes by and takes out of the event before encoding it."""
    fields: dict[str, Any] = {}
    if stream.priorities is not None:
        levels = stream.priorities.levels
        fields[PRIORITY_FIELD] = NotRequired[
            Annotated[
                Literal[levels],
                Field(description=f"Priority level (default {stream.priorities.default!r})."),
            ]
        ]
    if stream.delays is not None:
        fields[NOT_BEFORE_FIELD] = NotRequired[
            Annotated[Timestamp, Field(description="Process no earlier than this time.")]
        ]
    return fields


def json_schema(event: Any, ref_template: str) -> dict[str, Any]:
    """The JSON Schema of an event type, its nested records under ``$defs``."""
    return TypeAdapter(event).json_schema(ref_template=ref_template)


def _record(
    schema: dict[str, Any], top_level: bool = False, routing: dict[str, Any] | None = None
) -> Any:
    fields: dict[str, Any] = {}
    for field in schema["fields"]:
        extra: dict[str, Any] = {"description": field.get("doc")}
        if top_level and field["name"] == EVENT_ID_FIELD:
            fields[EVENT_ID_FIELD] = NotRequired[Annotated[EventId, Field(**extra)]]
            continue
        python_type = _python_type(field["type"])
        if "default" in field:
            extra["json_schema_extra"] = {"default": field["default"]}
            fields[field["name"]] = NotRequired[Annotated[python_type, Field(**extra)]]
        else:
            fields[field["name"]] = Annotated[python_type, Field(**extra)]
    fields.update(routing or {})
    record = TypedDict(schema["name"], fields)  # type: ignore[misc]
    record.__doc__ = schema.get("doc")
    return with_config(_STRICT)(record)


def _python_type(avro: Any) -> Any:  # noqa: PLR0911 - one return per Avro type
    if isinstance(avro, str):
        if avro in _PRIMITIVES:
            return _PRIMITIVES[avro]
        raise UnsupportedSchemaError(f"unsupported Avro type or named reference: {avro!r}")
    if isinstance(avro, list):
        members = [m for m in avro if m != "null"]
        if len(members) != 1:
            raise UnsupportedSchemaError(f'only ["null", T] unions are supported: {avro}')
        inner = _python_type(members[0])
        return inner | None if "null" in avro else inner
    logical = avro.get("logicalType")
    if logical in ("timestamp-millis", "timestamp-micros"):
        # JSON has no datetime type: a time without an offset is refused rather than guessed.
        return Timestamp
    kind = avro["type"]
    if kind == "record":
        return _record(avro)
    if kind == "enum":
        return Literal[tuple(avro["symbols"])]
    if kind == "array":
        return list[_python_type(avro["items"])]  # type: ignore[misc]
    if kind == "map":
        return dict[str, _python_type(avro["values"])]  # type: ignore[misc]
    if kind in _PRIMITIVES:
        return _PRIMITIVES[kind]
    raise UnsupportedSchemaError(f"unsupported Avro type: {kind!r}")
