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


def test_retention_reads_days_hours_minutes_and_forever(tmp_path: Path) -> None:
    path = declare(
        tmp_path,
        "a:\n  schema: orders.avsc\n  key: customer_id\n  retention: 3d\n"
        "b:\n  schema: orders.avsc\n  key: customer_id\n  retention: 12h\n"
        "c:\n  schema: orders.avsc\n  key: customer_id\n  retention: forever\n"
        "d:\n  schema: orders.avsc\n  key: customer_id\n",
    )

    streams = load_streams(path)

    assert [s.retention_ms for s in streams.values()] == [259_200_000, 43_200_000, -1, None]


def test_a_retention_that_is_not_a_duration_is_refused(tmp_path: Path) -> None:
    path = declare(tmp_path, "a:\n  schema: orders.avsc\n  key: customer_id\n  retention: 2w\n")

    with pytest.raises(ConfigError, match=r"retention '2w': expected e.g. 7d"):
        load_streams(path)


def test_more_in_sync_replicas_than_replicas_are_refused(tmp_path: Path) -> None:
    path = declare(
        tmp_path,
        "a:\n  schema: orders.avsc\n  key: customer_id\n"
        "  replication_factor: 1\n  min_insync_replicas: 2\n",
    )

    with pytest.raises(ConfigError, match="min_insync_replicas 2 is more than replication_factor"):
        load_streams(path)


def test_a_compacted_output_takes_no_retention(tmp_path: Path) -> None:
    path = declare(
        tmp_path,
        "a:\n  schema: orders.avsc\n  key: customer_id\n  outputs:\n    totals:\n"
        "      topic: a.totals\n      schema: revenue_per_minute.avsc\n      key: window\n"
        "      compacted: true\n      retention: 1d\n",
    )

    with pytest.raises(ConfigError, match="a compacted output keeps each key's latest value"):
        load_streams(path)
