"""Stream declarations: the one source of truth for each stream.

A stream's declaration names its Avro schema file, its key field, its partition
count and its ordering; topic provisioning, schema registration, the API's routes
and the workers' subscriptions are all derived from it.
"""

from __future__ import annotations

import json
from functools import cached_property
from importlib import resources
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    PositiveInt,
    ValidationError,
    model_validator,
)

from conveyor.config.exceptions import ConfigError

__all__ = ["Ordering", "StreamDeclaration", "load_streams"]

# strict: one key's events are applied in order, so a retry blocks its partition;
# relaxed: a failing event may be retried later, out of order, through retry topics.
Ordering = Literal["strict", "relaxed"]

# The packaged schemas directory, found without importing `conveyor.schemas` (which
# imports config).
_SCHEMAS = resources.files("conveyor").joinpath("schemas")


class StreamDeclaration(BaseModel):
    """One stream: where it lives on Kafka and what its events look like."""

    model_config = ConfigDict(frozen=True, extra="forbid", populate_by_name=True)

    name: str = Field(pattern=r"^[a-z][a-z0-9_-]*$")
    schema_file: str = Field(alias="schema")
    key: str
    topic: str = ""
    partitions: PositiveInt = 6
    ordering: Ordering = "strict"
    # Consumer lag (events) past which the API answers 503 instead of accepting more.
    max_backlog: PositiveInt = 100_000

    @model_validator(mode="after")
    def _default_topic_and_check_key(self) -> StreamDeclaration:
        if not self.topic:
            object.__setattr__(self, "topic", self.name)
        field_types = {f["name"]: f["type"] for f in self.avro_schema["fields"]}
        if self.key not in field_types:
            raise ValueError(f"key field {self.key!r} is not a field of {self.schema_file}")
        if field_types[self.key] != "string":
            raise ValueError(f"key field {self.key!r} must be a non-null Avro string")
        return self

    @property
    def schema_path(self) -> Path:
        path = Path(self.schema_file)
        return path if path.is_absolute() else Path(str(_SCHEMAS.joinpath(self.schema_file)))

    @cached_property
    def avro_schema(self) -> dict[str, Any]:
        """The parsed ``.avsc`` file."""
        try:
            parsed: dict[str, Any] = json.loads(self.schema_path.read_text())
        except OSError as exc:
            raise ValueError(f"cannot read schema {self.schema_path}: {exc.strerror}") from exc
        except json.JSONDecodeError as exc:
            raise ValueError(f"schema {self.schema_path} is not JSON: {exc}") from exc
        if parsed.get("type") != "record":
            raise ValueError(f"schema {self.schema_path} must be an Avro record")
        return parsed


def load_streams(path: Path | None = None) -> dict[str, StreamDeclaration]:
    """Read stream declarations from ``path``, by default the packaged ``streams.yaml``."""
    text = (
        path.read_text()
        if path
        else resources.files("conveyor.config").joinpath("streams.yaml").read_text()
    )
    raw = yaml.safe_load(text) or {}
    streams = raw.get("streams", raw)
    if not isinstance(streams, dict):
        raise ConfigError(f"{path or 'streams.yaml'}: expected a mapping of stream names")
    return {name: parse_stream(name, spec) for name, spec in streams.items()}


def parse_stream(name: str, spec: Any) -> StreamDeclaration:
    if isinstance(spec, StreamDeclaration):
        return spec
    if not isinstance(spec, dict):
        raise ConfigError(f"stream {name!r}: expected a mapping")
    try:
        return StreamDeclaration.model_validate({"name": name, **spec})
    except ValidationError as exc:
        problems = "; ".join(err["msg"] for err in exc.errors())
        raise ConfigError(f"stream {name!r}: {problems}") from exc
