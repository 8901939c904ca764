"""The writers put together per schema write fastavro's bytes: for every schema conveyor
ships, on values drawn at random, and fastavro still writes (or refuses) what they cannot."""

from __future__ import annotations

import io
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from fastavro import parse_schema, schemaless_writer
from hypothesis import given, settings
from hypothesis import strategies as st

from conveyor.schemas.serde import AvroEncoder
from conveyor.schemas.writers import compile_writer

ROOT = Path(__file__).parents[2]
SCHEMAS = sorted([*ROOT.joinpath("schemas").glob("*.avsc"), ROOT / "bench" / "jobs.avsc"])

# Every type the writers know, nested, named types referred to again by name.
EVERYTHING = {
    "type": "record",
    "name": "Everything",
    "namespace": "test",
    "fields": [
        {"name": "flag", "type": "boolean"},
        {"name": "small", "type": "int"},
        {"name": "big", "type": "long"},
        {"name": "ratio", "type": "float"},
        {"name": "exact", "type": "double"},
        {"name": "blob", "type": "bytes"},
        {"name": "text", "type": "string"},
        {"name": "nothing", "type": "null"},
        {"name": "colour", "type": {"type": "enum", "name": "Colour", "symbols": ["red", "blue"]}},
        {"name": "again", "type": "Colour"},
        {"name": "at", "type": {"type": "long", "logicalType": "timestamp-millis"}},
        {"name": "at_us", "type": {"type": "long", "logicalType": "timestamp-micros"}},
        {"name": "maybe", "type": ["null", "string"], "default": None},
        {"name": "maybe_last", "type": ["long", "null"]},
        {"name": "maybe_double", "type": ["null", "double"]},
        {"name": "maybe_flag", "type": ["null", "boolean"]},
        {"name": "tags", "type": {"type": "array", "items": "string"}},
        {"name": "counts", "type": {"type": "map", "values": "long"}},
        {
            "name": "inner",
            "type": {
                "type": "record",
                "name": "Inner",
                "fields": [{"name": "n", "type": "int"}, {"name": "c", "type": "Colour"}],
            },
        },
        {"name": "inners", "type": {"type": "array", "items": "Inner"}},
        {"name": "maybe_inner", "type": ["null", "Inner"]},
        {"name": "with_default", "type": "string", "default": "fallback"},
    ],
}

_LONG = st.integers(-(2**63), 2**63 - 1)
_INT = st.integers(-(2**31), 2**31 - 1)
_TIME = st.datetimes(
    min_value=datetime(1900, 1, 1), max_value=datetime(2200, 1, 1), timezones=st.just(UTC)
)


def _values(schema: Any, named: dict[str, Any]) -> st.SearchStrategy[Any]:
    """Values fastavro writes for ``schema`` (parsed), drawn at random."""
    if isinstance(schema, list):
        return st.one_of(*(_values(branch, named) for branch in schema))
    if isinstance(schema, str):
        simple: dict[str, st.SearchStrategy[Any]] = {
            "null": st.none(),
            "boolean": st.booleans(),
            "int": _INT,
            "long": _LONG,
            "float": st.floats(width=32, allow_nan=False),
            "double": st.floats(allow_nan=False),
            "bytes": st.binary(max_size=300),
            "string": st.text(max_size=300),
        }
        return simple[schema] if schema in simple else _values(named[schema], named)
    kind, logical = schema["type"], schema.get("logicalType")
    if logical is not None:
        return st.one_of(_TIME, st.integers(-(2**40), 2**40))
    if kind == "record":
        named[schema["name"]] = schema
        fields = {f["name"]: _values(f["type"], named) for f in schema["fields"]}
        optional = [f["name"] for f in schema["fields"] if "default" in f]
        return st.fixed_dictionaries(fields).flatmap(
            lambda record: st.sets(st.sampled_from(optional or [""])).map(
                lambda dropped: {k: v for k, v in record.items() if k not in dropped}
            )
        )
    if kind == "enum":
        named[schema["name"]] = schema
        return st.sampled_from(schema["symbols"])
    if kind == "array":
        return st.lists(_values(schema["items"], named), max_size=5)
    if kind == "map":
        return st.dictionaries(st.text(max_size=10), _values(schema["values"], named), max_size=5)
    return _values(kind, named)


def _fastavro(schema: Any, record: dict[str, Any]) -> bytes:
    out = io.BytesIO()
    schemaless_writer(out, schema, record)
    return out.getvalue()


@pytest.mark.parametrize(
    "schema", [EVERYTHING, *(json.loads(p.read_text()) for p in SCHEMAS)], ids=lambda s: s["name"]
)
def test_a_schemas_own_writer_writes_fastavros_bytes(schema: dict[str, Any]) -> None:
    parsed = parse_schema(schema)
    write = compile_writer(parsed)
    assert write is not None  # every schema conveyor ships gets one

    @settings(max_examples=200, deadline=None)
    @given(_values(parsed, {}))
    def check(record: dict[str, Any]) -> None:
        assert write(record) == _fastavro(parsed, record)

    check()


def test_a_schema_with_a_type_it_does_not_know_gets_no_writer() -> None:
    for field_type in (
        ["null", "string", "long"],
        {"type": "fixed", "name": "Four", "size": 4},
        {"type": "bytes", "logicalType": "decimal", "precision": 4, "scale": 2},
    ):
        schema = {"type": "record", "name": "R", "fields": [{"name": "f", "type": field_type}]}
        assert compile_writer(parse_schema(schema)) is None
    recursive = {
        "type": "record",
        "name": "Node",
        "fields": [{"name": "next", "type": ["null", "Node"]}],
    }
    assert compile_writer(parse_schema(recursive)) is None


def test_what_the_writer_cannot_write_fastavro_writes_or_refuses() -> None:
    encoder = AvroEncoder(EVERYTHING, 7)
    parsed = parse_schema(EVERYTHING)
    record = {
        "flag": 1,  # not a bool: fastavro writes it all the same
        "small": True,
        "big": 2,
        "ratio": "NaN",
        "exact": 1,
        "blob": b"",
        "text": "",
        "nothing": None,
        "colour": "red",
        "again": "blue",
        "at": datetime(2026, 1, 1) + timedelta(minutes=1),  # naive: fastavro's local zone
        "at_us": 0,
        "maybe_last": None,
        "maybe_double": 2,
        "maybe_flag": None,
        "tags": [],
        "counts": {},
        "inner": {"n": 1, "c": "red"},
        "inners": [],
        "maybe_inner": None,
    }
    assert encoder.encode(record)[5:] == _fastavro(parsed, record)
    with pytest.raises(ValueError, match="no value and no default for flag"):
        encoder.encode({k: v for k, v in record.items() if k != "flag"})
