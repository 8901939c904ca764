"""Stream declarations: defaults derived from the name, keys checked against the schema."""

from __future__ import annotations

from pathlib import Path

import pytest

from conveyor.config import load_streams
from conveyor.config.exceptions import ConfigError


def declare(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "streams.yaml"
    path.write_text(text)
    return path


def test_packaged_streams_key_on_a_string_field_of_their_schema() -> None:
    streams = load_streams()

    for stream in streams.values():
        fields = {f["name"]: f["type"] for f in stream.avro_schema["fields"]}
        assert fields[stream.key] == "string"
    assert streams["orders"].key == "customer_id"
    assert streams["notifications"].ordering == "relaxed"


def test_the_topic_defaults_to_the_stream_name(tmp_path: Path) -> None:
    streams = load_streams(
        declare(tmp_path, "streams:\n  orders:\n    schema: orders.avsc\n    key: customer_id\n")
    )

    assert streams["orders"].topic == "orders"


def test_a_key_that_is_not_a_field_of_the_schema_is_refused(tmp_path: Path) -> None:
    path = declare(tmp_path, "streams:\n  orders:\n    schema: orders.avsc\n    key: customer\n")

    with pytest.raises(ConfigError, match=r"stream 'orders': .*key field 'customer'"):
        load_streams(path)


def test_a_key_that_is_not_a_string_is_refused(tmp_path: Path) -> None:
    path = declare(tmp_path, "orders:\n  schema: orders.avsc\n  key: amount_cents\n")

    with pytest.raises(ConfigError, match="must be a non-null Avro string"):
        load_streams(path)


def test_a_missing_schema_file_is_named(tmp_path: Path) -> None:
    path = declare(tmp_path, "orders:\n  schema: nope.avsc\n  key: id\n")

    with pytest.raises(ConfigError, match=r"cannot read schema .*nope.avsc"):
        load_streams(path)
