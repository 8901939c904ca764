"""Hypothesis strategies for any valid record of an Avro schema, as fastavro reads it back.

Values take the Python shapes fastavro decodes to: ``timestamp-millis`` as an aware UTC
datetime to the millisecond, enums as their symbol, records as dicts. Strings leave out
lone surrogates, which no UTF-8 (and so no Avro string) can hold.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from hypothesis import strategies as st

__all__ = ["avro_records"]

_TEXT = st.text(st.characters(exclude_categories=["Cs"]), max_size=40)
# Times fastavro can write as Unix milliseconds and read back: within datetime's years.
_MILLIS = st.datetimes(
    min_value=datetime(1, 1, 2), max_value=datetime(9998, 12, 31), timezones=st.just(UTC)
).map(lambda at: at.replace(microsecond=at.microsecond // 1000 * 1000))
_PRIMITIVES: dict[str, st.SearchStrategy[Any]] = {
    "null": st.none(),
    "boolean": st.booleans(),
    "int": st.integers(-(2**31), 2**31 - 1),
    "long": st.integers(-(2**63), 2**63 - 1),
    "float": st.floats(width=32, allow_nan=False),
    "double": st.floats(allow_nan=False),
    "bytes": st.binary(max_size=40),
    "string": _TEXT,
}


def avro_records(schema: dict[str, Any]) -> st.SearchStrategy[dict[str, Any]]:
    """Any record ``schema`` (a record schema) allows."""
    strategy: st.SearchStrategy[dict[str, Any]] = _strategy(schema, {})
    return strategy


def _strategy(avro: Any, named: dict[str, st.SearchStrategy[Any]]) -> st.SearchStrategy[Any]:
    if isinstance(avro, str):
        return _PRIMITIVES[avro] if avro in _PRIMITIVES else named[avro]
    if isinstance(avro, list):
        return st.one_of([_strategy(member, named) for member in avro])
    if avro.get("logicalType") == "timestamp-millis":
        return _MILLIS
    kind = avro["type"]
    if kind == "record":
        fields = {f["name"]: _strategy(f["type"], named) for f in avro["fields"]}
        strategy: st.SearchStrategy[Any] = st.fixed_dictionaries(fields)
    elif kind == "enum":
        strategy = st.sampled_from(avro["symbols"])
    elif kind == "array":
        return st.lists(_strategy(avro["items"], named), max_size=5)
    elif kind == "map":
        return st.dictionaries(_TEXT, _strategy(avro["values"], named), max_size=5)
    elif kind == "fixed":
        strategy = st.binary(min_size=avro["size"], max_size=avro["size"])
    else:
        return _strategy(kind, named)
    named[avro["name"]] = strategy
    if "namespace" in avro:
        named[f"{avro['namespace']}.{avro['name']}"] = strategy
    return strategy
