"""Avro writers put together once per schema, for the values a worker writes by the thousand.

fastavro's writer walks the schema again for every value it writes: a look-up and a call
per field, and for a union a validation against each branch until one fits, ~0.5 µs a
field (a job's change on the feed, ten fields, six of them unions: 6 µs). The writer made
here walks the schema once, when it is made, into one small function per field; writing
a value is then only those calls. It knows the types conveyor's schemas use (primitives,
records, enums, arrays, maps, unions of null and one type, timestamps); a schema with
anything else gets no writer here, and a value it cannot write (a missing field, a wrong
type, a naive datetime) is handed to fastavro, which writes it or says why not. Either
way the bytes are fastavro's (``tests/unit/test_avro_writers.py`` holds them side by side).
"""

from __future__ import annotations

import struct
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

__all__ = ["compile_writer"]

Write = Callable[[bytearray, Any], None]

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_FLOAT = struct.Struct("<f")
_DOUBLE = struct.Struct("<d")


class _UnsupportedError(Exception):
    """The schema has a type this module does not write: fastavro writes it."""


def _varint(n: int) -> bytes:
    """A long in Avro's zig-zag varint."""
    n = (n << 1) ^ (n >> 63)
    out = bytearray()
    while n > 0x7F:
        out.append((n & 0x7F) | 0x80)
        n >>= 7
    out.append(n)
    return bytes(out)


# Lengths, counts and small numbers: most of the longs written.
_SMALL = [_varint(n) for n in range(256)]


def _long(out: bytearray, value: int) -> None:
    if type(value) is not int:  # a bool or a float is no long to fastavro either
        raise TypeError(f"not a long: {value!r}")
    out += _SMALL[value] if 0 <= value < 256 else _varint(value)


def _string(out: bytearray, value: str) -> None:
    data = value.encode()
    length = len(data)
    out += _SMALL[length] if length < 256 else _varint(length)
    out += data


def _bytes(out: bytearray, value: bytes) -> None:
    if not isinstance(value, bytes | bytearray):
        raise TypeError(f"not bytes: {value!r}")
    length = len(value)
    out += _SMALL[length] if length < 256 else _varint(length)
    out += value


def _boolean(out: bytearray, value: bool) -> None:
    out.append(1 if value else 0)


def _float(out: bytearray, value: float) -> None:
    out += _FLOAT.pack(value)


def _double(out: bytearray, value: float) -> None:
    out += _DOUBLE.pack(value)


def _null(out: bytearray, value: None) -> None:
    if value is not None:
        raise TypeError(f"not null: {value!r}")


def _timestamp(per_second: int) -> Write:
    def write(out: bytearray, value: datetime | int) -> None:
        if isinstance(value, datetime):
            if value.tzinfo is None:  # fastavro reads it in the local zone: its own call
                raise TypeError("a naive datetime")
            delta = value - _EPOCH
            units = (delta.days * 86_400 + delta.seconds) * per_second
            _long(out, units + delta.microseconds // (1_000_000 // per_second))
        else:
            _long(out, value)

    return write


# The named types met so far: their kind (record, enum) and writer (None for a record
# still being put together).
_Names = dict[str, tuple[str, Write | None]]

_PRIMITIVES: dict[str, Write] = {
    "null": _null,
    "boolean": _boolean,
    "int": _long,
    "long": _long,
    "float": _float,
    "double": _double,
    "bytes": _bytes,
    "string": _string,
}
_LOGICAL: dict[tuple[str, str], Write] = {
    ("long", "timestamp-millis"): _timestamp(1_000),
    ("long", "timestamp-micros"): _timestamp(1_000_000),
}
# What a value must be to take a union's non-null branch (fastavro checks each branch).
_BRANCH_TYPES: dict[str, tuple[type, ...]] = {
    "boolean": (bool,),
    "int": (int,),
    "long": (int,),
    "float": (float, int),
    "double": (float, int),
    "bytes": (bytes, bytearray),
    "string": (str,),
    "record": (dict,),
    "enum": (str,),
    "array": (list, tuple),
    "map": (dict,),
}


def compile_writer(schema: Any) -> Callable[[dict[str, Any]], bytes] | None:
    """A writer of ``schema``'s records (as fastavro's ``parse_schema`` gives the schema),
    or None if the schema has a type this module does not write."""
    try:
        write = _writer(schema, {})
    except _UnsupportedError:
        return None

    def written(record: dict[str, Any]) -> bytes:
        out = bytearray()
        write(out, record)
        return bytes(out)

    return written


def _writer(schema: Any, names: _Names) -> Write:
    """The writer of ``schema``; ``names`` holds the named types met so far."""
    if isinstance(schema, list):
        return _union(schema, names)
    if isinstance(schema, dict):
        return _typed(schema, names)
    if schema in _PRIMITIVES:
        return _PRIMITIVES[schema]
    _, named = names.get(schema, ("", None))
    if named is None:  # unknown, or a record within itself (recursive: not written here)
        raise _UnsupportedError(schema)
    return named


def _typed(schema: dict[str, Any], names: _Names) -> Write:
    kind = schema["type"]
    logical = schema.get("logicalType")
    if logical is not None:
        if (kind, logical) not in _LOGICAL:
            raise _UnsupportedError(logical)
        return _LOGICAL[(kind, logical)]
    if kind == "record":
        return _record(schema, names)
    if kind == "enum":
        return _enum(schema, names)
    if kind == "array":
        return _array(_writer(schema["items"], names))
    if kind == "map":
        return _map(_writer(schema["values"], names))
    return _writer(kind, names)


def _enum(schema: dict[str, Any], names: _Names) -> Write:
    index = {symbol: _SMALL[n] for n, symbol in enumerate(schema["symbols"])}

    def enum(out: bytearray, value: str) -> None:
        out += index[value]

    names[schema["name"]] = ("enum", enum)
    return enum


def _record(schema: dict[str, Any], names: _Names) -> Write:
    names[schema["name"]] = ("record", None)
    fields = []
    for field in schema["fields"]:
        field_type = field["type"]
        nullable = field_type == "null" or (isinstance(field_type, list) and "null" in field_type)
        # fastavro writes a missing field's default, None for a nullable one without, and
        # refuses any other.
        optional = "default" in field or nullable
        write = _writer(field_type, names)
        if field_type in ("float", "double"):
            write = _as_float(write)
        fields.append((field["name"], optional, field.get("default"), write))

    def record(out: bytearray, value: dict[str, Any]) -> None:
        for name, optional, default, write in fields:
            write(out, value.get(name, default) if optional else value[name])

    names[schema["name"]] = ("record", record)
    return record


def _as_float(write: Write) -> Write:
    """fastavro writes a record's float field as ``float(value)`` (a string "NaN" too)."""

    def as_float(out: bytearray, value: Any) -> None:
        write(out, float(value))

    return as_float


def _union(branches: list[Any], names: _Names) -> Write:
    if len(branches) != 2 or "null" not in branches:
        raise _UnsupportedError("a union other than of null and one type")
    null_at = branches.index("null")
    other = branches[1 - null_at]
    kind = other if isinstance(other, str) else other["type"]
    kind = names[kind][0] if isinstance(kind, str) and kind in names else kind
    if kind not in _BRANCH_TYPES or (isinstance(other, dict) and "logicalType" in other):
        raise _UnsupportedError(f"a union with {other}")
    expected = _BRANCH_TYPES[kind]
    takes_bool = kind == "boolean"  # a bool is an int to Python, never to fastavro
    null, tag = _SMALL[null_at], _SMALL[1 - null_at]
    write = _writer(other, names)

    def union(out: bytearray, value: Any) -> None:
        if value is None:
            out += null
            return
        if not isinstance(value, expected) or (isinstance(value, bool) and not takes_bool):
            raise TypeError(f"{value!r} is not a {kind}")
        out += tag
        write(out, value)

    return union


def _array(write: Write) -> Write:
    def array(out: bytearray, value: list[Any]) -> None:
        if value:
            _long(out, len(value))
            for item in value:
                write(out, item)
        out.append(0)

    return array


def _map(write: Write) -> Write:
    def map_(out: bytearray, value: dict[str, Any]) -> None:
        if value:
            _long(out, len(value))
            for key, item in value.items():
                _string(out, key)
                write(out, item)
        out.append(0)

    return map_
