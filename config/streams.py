"""Stream declarations: the one source of truth for each stream.

A stream's declaration names its Avro schema file, its key field, its partition
count and its ordering, the handler that processes its events and the output
topics that handler writes; topic provisioning, schema registration, the API's
routes and the workers' subscriptions are all derived from it.
"""

from __future__ import annotations

import json
from functools import cached_property
from importlib import resources
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PositiveInt,
    ValidationError,
    model_validator,
)

from conveyor.config.delays import NOT_BEFORE_FIELD, DelayTiers
from conveyor.config.durations import duration_ms
from conveyor.config.exceptions import ConfigError
from conveyor.config.priorities import PRIORITY_FIELD, Priorities
from conveyor.config.schedules import Schedule
from conveyor.config.webhooks import StreamWebhook

__all__ = [
    "FOREVER",
    "ChangeFeed",
    "DelayTiers",
    "Executor",
    "Ordering",
    "OutputDeclaration",
    "Priorities",
    "Retention",
    "RetryPolicy",
    "Schedule",
    "StreamDeclaration",
    "StreamWebhook",
    "load_streams",
]

# strict: one key's events are applied in order, so a retry blocks its partition;
# relaxed: a failing event may be retried later, out of order, through retry topics.
Ordering = Literal["strict", "relaxed"]

# Where a stream's handler runs: "auto" runs an ``async def process`` on the worker's
# loop and a plain ``def process`` in a thread pool; "process" runs it in a pool of
# processes, one per core, for work that holds the CPU (and with it Python's GIL).
Executor = Literal["auto", "process"]

# Kafka's retention.ms for "never delete by age".
FOREVER = -1


def _retention_ms(value: Any) -> Any:
    """``7d``, ``12h``, ``30m``, ``45s``, ``500ms`` or ``forever`` as Kafka's retention.ms;
    a bare number is taken as milliseconds already."""
    if isinstance(value, str):
        if value.strip() == "forever":
            return FOREVER
        value = duration_ms(value, "retention", "7d, 12h, 30m, 45s or forever")
    if isinstance(value, int) and value != FOREVER and value <= 0:
        raise ValueError(f"retention {value}: must be positive, or forever")
    return value


# How long a topic keeps records, in milliseconds (FOREVER: no limit by age).
Retention = Annotated[int, BeforeValidator(_retention_ms)]

# The packaged schemas directory, found without importing `conveyor.schemas` (which
# imports config).
_SCHEMAS = resources.files("conveyor").joinpath("schemas")


def _read_schema(schema_file: str) -> dict[str, Any]:
    path = Path(schema_file)
    if not path.is_absolute():
        path = Path(str(_SCHEMAS.joinpath(schema_file)))
    try:
        parsed: dict[str, Any] = json.loads(path.read_text())
    except OSError as exc:
        raise ValueError(f"cannot read schema {path}: {exc.strerror}") from exc
    except json.JSONDecodeError as exc:
        raise ValueError(f"schema {path} is not JSON: {exc}") from exc
    if parsed.get("type") != "record":
        raise ValueError(f"schema {path} must be an Avro record")
    return parsed


def _require_string_field(schema: dict[str, Any], field: str, schema_file: str) -> None:
    field_types = {f["name"]: f["type"] for f in schema["fields"]}
    if field not in field_types:
        raise ValueError(f"key field {field!r} is not a field of {schema_file}")
    if field_types[field] != "string":
        raise ValueError(f"key field {field!r} must be a non-null Avro string")


class OutputDeclaration(BaseModel):
    """A topic a stream's handler writes results to, in Avro, keyed by one of its fields."""

    model_config = ConfigDict(frozen=True, extra="forbid", populate_by_name=True)

    topic: str = Field(pattern=r"^[A-Za-z0-9._-]+$")
    schema_file: str = Field(alias="schema")
    key: str
    # Unset: as many partitions as the input, so a key keeps its partition number.
    partitions: PositiveInt | None = None
    # Compacted outputs keep the latest value per key: right for running totals.
    compacted: bool = False
    # Unset: the stream's retention. Not for compacted outputs, which keep every key's
    # latest value however old it is.
    retention_ms: Retention | None = Field(default=None, alias="retention")

    @model_validator(mode="after")
    def _check_key_and_retention(self) -> OutputDeclaration:
        _require_string_field(self.avro_schema, self.key, self.schema_file)
        if self.compacted and self.retention_ms is not None:
            raise ValueError(
                f"output {self.topic}: a compacted output keeps each key's latest value, "
                "so it takes no retention"
            )
        return self

    @cached_property
    def avro_schema(self) -> dict[str, Any]:
        return _read_schema(self.schema_file)


class ChangeFeed(BaseModel):
    """The topic where each change of a stream's jobs is published (``<topic>.status``):
    what ``GET /v1/jobs/{event_id}/events`` and the stream's event feed read."""

    model_config = ConfigDict(frozen=True)

    topic: str
    schema_file: str = "job_changes.avsc"

    @cached_property
    def avro_schema(self) -> dict[str, Any]:
        return _read_schema(self.schema_file)


class RetryPolicy(BaseModel):
    """How often a failing event is tried, and how long to wait between tries.

    The n-th retry waits up to ``backoff_seconds * 2**(n-1)`` (capped), drawn at random
    so that events failing together do not come back together. Strict streams wait in
    place (their partition waits too); relaxed streams wait on ``<topic>.retry.<n>``
    topics, so the events behind a failing one go on.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    attempts: PositiveInt = 4
    backoff_seconds: float = Field(default=1.0, gt=0)
    max_backoff_seconds: float = Field(default=60.0, gt=0)


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
    # What a worker does with each event: ``module:attribute``, a Handler (see
    # conveyor.processors.handler). Unset: the stream is ingested but not processed.
    handler: str | None = Field(default=None, pattern=r"^[\w.]+:\w+$")
    outputs: dict[str, OutputDeclaration] = Field(default_factory=dict)
    retry: RetryPolicy = RetryPolicy()
    # Jobs one worker runs at once: any records on a relaxed stream, different keys on a
    # strict one (one key's records one at a time, in order).
    concurrency: PositiveInt = 100
    executor: Executor = "auto"
    # A job still running this long after it started fails with TimeoutError, retried
    # or dead-lettered like any other failure. Unset: no limit.
    timeout_ms: Annotated[PositiveInt, BeforeValidator(duration_ms)] | None = Field(
        default=None, alias="timeout"
    )
    # Of every topic of the stream (input, outputs, retry tiers, DLQ). Unset, the
    # broker's defaults apply: default.replication.factor and min.insync.replicas (1 and
    # 1 on one node, 3 and 2 on conveyor's three-node cluster), log.retention (7 days).
    replication_factor: PositiveInt | None = None
    min_insync_replicas: PositiveInt | None = None
    retention_ms: Retention | None = Field(default=None, alias="retention")
    # Levels, each its own topic, consumed higher first (config/priorities.py).
    priorities: Priorities | None = None
    # Tiers an event with a not_before waits on until it is due (config/delays.py).
    delays: DelayTiers | None = None
    # Events emitted into this stream by the clock, by name (config/schedules.py).
    schedules: dict[Annotated[str, Field(pattern=r"^[a-z0-9][a-z0-9_-]*$")], Schedule] = Field(
        default_factory=dict
    )
    # Where every job of the stream that ends is POSTed (config/webhooks.py).
    webhook: StreamWebhook | None = None
    # Written by the workers alone, through the outbox (the webhooks' deliveries): the API
    # serves no route for it.
    internal: bool = False

    @model_validator(mode="after")
    def _default_topic_and_check(self) -> StreamDeclaration:
        if not self.topic:
            object.__setattr__(self, "topic", self.name)
        _require_string_field(self.avro_schema, self.key, self.schema_file)
        self._check_timing()
        replicas, min_insync = self.replication_factor, self.min_insync_replicas
        if replicas is not None and min_insync is not None and min_insync > replicas:
            # acks=all could never be satisfied: every write would be refused.
            raise ValueError(
                f"min_insync_replicas {min_insync} is more than replication_factor {replicas}"
            )
        return self

    def _check_timing(self) -> None:
        """The routing fields the API takes must not shadow the schema's own, delayed
        events need workers to hold them, and a schedule's level must be declared."""
        fields = {f["name"] for f in self.avro_schema["fields"]}
        for declared, field in ((self.priorities, PRIORITY_FIELD), (self.delays, NOT_BEFORE_FIELD)):
            if declared is not None and field in fields:
                raise ValueError(
                    f"{self.schema_file} has a field {field!r}, which the API takes to route "
                    "events; rename it or drop the declaration"
                )
        if self.delays is not None:
            if self.handler is None:
                raise ValueError("delays need a handler: the workers hold delayed events")
            longest = self.delays.tiers[-1]
            if self.retention_ms not in (None, FOREVER) and self.retention_ms <= longest:
                # A record would be deleted before its tier let it go.
                raise ValueError(
                    f"retention {self.retention_ms} ms is not longer than the "
                    f"longest delay tier ({longest} ms)"
                )
        levels = self.priorities.levels if self.priorities else ()
        for name, schedule in self.schedules.items():
            if schedule.priority is not None and schedule.priority not in levels:
                raise ValueError(
                    f"schedule {name!r}: priority {schedule.priority!r} is not a declared level"
                )

    @cached_property
    def avro_schema(self) -> dict[str, Any]:
        """The parsed ``.avsc`` file."""
        return _read_schema(self.schema_file)

    @property
    def level_topics(self) -> list[str]:
        """The topics events are posted to, highest level first (just the stream's topic
        when it declares no priorities)."""
        if self.priorities is None:
            return [self.topic]
        return [self.priorities.topic(self.topic, level) for level in self.priorities.levels]

    def level_topic(self, level: str | None) -> str:
        """The topic of a priority level; ``None`` is the default level."""
        if self.priorities is None or level is None:
            return self.topic
        return self.priorities.topic(self.topic, level)

    @property
    def delay_topics(self) -> list[str]:
        """The delay tiers' topics, shortest first."""
        return [] if self.delays is None else self.delays.topics(self.topic)

    @property
    def dlq_topic(self) -> str:
        """Where poison lands: undecodable, invalid, or out of attempts."""
        return f"{self.topic}.dlq"

    @property
    def change_feed(self) -> ChangeFeed:
        """Where its jobs' changes are published."""
        return ChangeFeed(topic=f"{self.topic}.status")

    @property
    def redriven_topic(self) -> str:
        """The DLQ redrive's ledger: which dead letters were sent back (compacted)."""
        return f"{self.dlq_topic}.redriven"

    @property
    def retry_topics(self) -> list[str]:
        """A relaxed stream's retry tiers, one per retry; a strict stream retries in place."""
        if self.ordering == "strict":
            return []
        return [f"{self.topic}.retry.{n}" for n in range(1, self.retry.attempts)]

    @property
    def consumed_topics(self) -> list[str]:
        """What the workers read of this stream: its levels, retry tiers and delay tiers."""
        return [*self.level_topics, *self.retry_topics, *self.delay_topics]


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
