"""Pydantic models derived from the Avro schemas: what the API validates and documents.

The ``.avsc`` file is the only place a stream's fields are written; this module
turns it into a strict pydantic model, so validation at the door and the OpenAPI
document can never drift from what the Avro encoder accepts.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, create_model

from conveyor.config import StreamDeclaration
from conveyor.schemas.exceptions import UnsupportedSchemaError

__all__ = ["EVENT_ID_FIELD", "EventId", "event_model"]

# Every stream's schema carries the event's identity in this field. Clients may
# leave it out: the API fills it from the Idempotency-Key header or a new UUIDv7.
EVENT_ID_FIELD = "event_id"
EventId = Annotated[str, Field(min_length=1, max_length=128, pattern=r"^[\x21-\x7e]+$")]

_INT = Annotated[int, Field(ge=-(2**31), le=2**31 - 1)]
_LONG = Annotated[int, Field(ge=-(2**63), le=2**63 - 1)]
_PRIMITIVES: dict[str, Any] = {
    "string": str,
    "int": _INT,
    "long": _LONG,
    "float": float,
    "double": float,
    "boolean": bool,
}
_STRICT = ConfigDict(extra="forbid", strict=True, frozen=True)


def event_model(stream: StreamDeclaration) -> type[BaseModel]:
    """The strict model of one event of ``stream``, named after its Avro record."""
    schema = stream.avro_schema
    model = _record(schema, schema.get("namespace", ""), top_level=True)
    return model


def _record(schema: dict[str, Any], namespace: str, top_level: bool = False) -> type[BaseModel]:
    namespace = schema.get("namespace", namespace)
    fields: dict[str, Any] = {}
    for field in schema["fields"]:
        python_type = _python_type(field["type"], namespace)
        description = field.get("doc")
        if top_level and field["name"] == EVENT_ID_FIELD:
            fields[EVENT_ID_FIELD] = (EventId | None, Field(default=None, description=description))
        elif "default" in field:
            fields[field["name"]] = (
                python_type,
                Field(default=field["default"], description=description),
            )
        else:
            fields[field["name"]] = (python_type, Field(description=description))
    model: type[BaseModel] = create_model(
        schema["name"], __config__=_STRICT, __doc__=schema.get("doc"), **fields
    )
    return model


def _python_type(avro: Any, namespace: str) -> Any:  # noqa: PLR0911 - one return per Avro type
    if isinstance(avro, str):
        if avro in _PRIMITIVES:
            return _PRIMITIVES[avro]
        if avro == "null":
            return None
        raise UnsupportedSchemaError(f"named type references are not supported: {avro!r}")
    if isinstance(avro, list):
        members = [m for m in avro if m != "null"]
        if len(members) != 1:
            raise UnsupportedSchemaError(f'only ["null", T] unions are supported: {avro}')
        inner = _python_type(members[0], namespace)
        return inner | None if "null" in avro else inner
    logical = avro.get("logicalType")
    if logical in ("timestamp-millis", "timestamp-micros"):
        # JSON has no datetime type: RFC 3339 strings with an offset, parsed even in strict
        # mode; a time without an offset is refused rather than guessed.
        return Annotated[AwareDatetime, Field(strict=False)]
    kind = avro["type"]
    if kind == "record":
        return _record(avro, namespace)
    if kind == "enum":
        return Literal[tuple(avro["symbols"])]
    if kind == "array":
        return list[_python_type(avro["items"], namespace)]  # type: ignore[misc]
    if kind == "map":
        return dict[str, _python_type(avro["values"], namespace)]  # type: ignore[misc]
    if kind in _PRIMITIVES:
        return _PRIMITIVES[kind]
    raise UnsupportedSchemaError(f"unsupported Avro type: {kind!r}")
