"""conveyor's settings: environment variables over the YAML file over defaults.

The YAML file is the one named by ``CONVEYOR_CONFIG``. Environment variables use
the ``CONVEYOR_`` prefix with ``__`` between levels (``CONVEYOR_KAFKA__SASL_USERNAME``),
and the names the Kafka ecosystem already uses are honoured as they are:
``KAFKA_BOOTSTRAP_SERVERS``, ``KAFKA_SASL_PASSWORD``, ``SCHEMA_REGISTRY_URL`` ...
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    SecretStr,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
)

from conveyor.config.exceptions import ConfigError
from conveyor.config.streams import StreamDeclaration, load_streams, parse_stream
from conveyor.config.telemetry import TelemetrySettings
from conveyor.config.webhooks import CallbackHost, WebhookSecret, WebhookSettings

__all__ = [
    "ApiKey",
    "ApiSettings",
    "ClientConfig",
    "DashboardSettings",
    "KafkaSettings",
    "RegistrySettings",
    "ReportSettings",
    "Settings",
    "SmtpSettings",
    "TelemetrySettings",
    "WebhookSettings",
    "WorkerSettings",
    "load_settings",
]

# A librdkafka configuration, as confluent-kafka's clients take it.
ClientConfig = dict[str, str | int | float | bool]

CONFIG_ENV = "CONVEYOR_CONFIG"


class KafkaSettings(BaseModel):
    """How every Kafka client of conveyor connects; see :meth:`librdkafka_config`."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    bootstrap_servers: str = "127.0.0.1:9092"
    security_protocol: Literal["PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"] = "PLAINTEXT"
    sasl_mechanism: Literal["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"] | None = None
    sasl_username: str | None = None
    sasl_password: SecretStr | None = None
    ssl_ca_location: Path | None = None
    # Any other librdkafka property, by its dotted name, for every client.
    client_config: dict[str, str] = Field(default_factory=dict)

    def librdkafka_config(self) -> ClientConfig:
        """The librdkafka properties shared by every producer, consumer and admin client.

        Field names map to librdkafka's dotted keys (``sasl_username`` → ``sasl.username``),
        so SASL and SSL settings reach every client without being hand-mapped one by one.
        """
        config: ClientConfig = {}
        for name in type(self).model_fields:
            if name == "client_config":
                continue
            value = getattr(self, name)
            if value is None:
                continue
            if isinstance(value, SecretStr):
                value = value.get_secret_value()
            config[name.replace("_", ".")] = str(value)
        config.update(self.client_config)
        return config


class RegistrySettings(BaseModel):
    """Where the Confluent-compatible schema registry is."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    url: str = "http://127.0.0.1:8081"
    basic_auth_user_info: SecretStr | None = None

    def client_config(self) -> dict[str, str]:
        """The config dict confluent-kafka's ``SchemaRegistryClient`` takes."""
        config = {"url": self.url}
        if self.basic_auth_user_info is not None:
            config["basic.auth.user.info"] = self.basic_auth_user_info.get_secret_value()
        return config


class ApiKey(BaseModel):
    """One client of the API: its key's SHA-256, the streams it may post to, its rate."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str
    # API keys are long random tokens, so a plain SHA-256 is enough to store them
    # safely (no dictionary to attack); `conveyor api keygen` prints key and hash.
    sha256: str = Field(pattern=r"^[0-9a-f]{64}$")
    streams: tuple[str, ...] = ("*",)
    rate_per_second: float = Field(default=200.0, gt=0)
    burst: int = Field(default=400, gt=0)
    # May act in the dashboard (redrive dead letters, cancel jobs); every valid key may look.
    operator: bool = False
    # Hosts its events' callback URLs may name (exact, or ``*.domain``): none, no callbacks.
    callback_hosts: tuple[CallbackHost, ...] = ()
    # Signs the webhooks of its events' callbacks (``whsec_`` and base64).
    webhook_secret: WebhookSecret | None = None

    @model_validator(mode="after")
    def _callbacks_need_a_secret(self) -> ApiKey:
        if self.callback_hosts and self.webhook_secret is None:
            raise ValueError(
                f"key {self.name!r} lists callback_hosts: it needs a webhook_secret to sign with"
            )
        return self

    def may_post_to(self, stream: str) -> bool:
        return "*" in self.streams or stream in self.streams


class ApiSettings(BaseModel):
    """The ingest API's listener and limits."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    host: str = "127.0.0.1"
    port: int = Field(default=8000, gt=0, lt=65536)
    max_body_bytes: int = Field(default=1_048_576, gt=0)
    max_batch_items: int = Field(default=1_000, gt=0)
    # Empty: no authentication, which the API allows on loopback only.
    keys: tuple[ApiKey, ...] = ()
    # How often consumer lag is measured for back pressure and queue positions.
    lag_interval_seconds: float = Field(default=1.0, gt=0)
    # Events the producer may hold unacknowledged before the API answers 503.
    max_in_flight: int = Field(default=50_000, gt=0)
    # The API producer's linger.ms: how long librdkafka holds a record for others to join
    # its batch. A caller waits for the acknowledgement, so every millisecond here is one
    # of its latency; the idempotent producer's five requests in flight already batch what
    # arrives while they are out (the batches grow with the load). Measured: README.
    producer_linger_ms: float = Field(default=5, ge=0)
    # GET /v1/jobs/{id}?wait=N: the longest N allowed, and how often one query asks the
    # store which of the jobs callers wait for ended (only while someone waits).
    max_wait_seconds: float = Field(default=60.0, gt=0)
    wait_poll_seconds: float = Field(default=0.01, gt=0)
    # Server-Sent Events responses (a job's or a stream's changes) open at once, each with
    # a consumer of the change feed and a thread: past this many, 503.
    max_event_streams: int = Field(default=100, gt=0)


class DashboardSettings(BaseModel):
    """The operator's web dashboard, which the API serves under ``/ui``."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    enabled: bool = True
    # Lag is sampled in the API process for the dashboard's chart: a sample every
    # interval, the last ``lag_samples`` kept (an hour at the defaults).
    lag_interval_seconds: float = Field(default=5.0, gt=0)
    lag_samples: int = Field(default=720, gt=1)


class WorkerSettings(BaseModel):
    """The worker tier: its consumer group and how it batches, commits and publishes."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    # The consumer group of every worker (also the Faust app id); the API reads its lag.
    group_id: str = "conveyor-workers"
    # Records an agent hands over at most at a time, and so claimed or settled in one
    # result-store transaction at most. A batch never waits to fill: it goes with what the
    # agent has in hand (processors/in_hand.py), so it grows with the load by itself.
    batch_size: int = Field(default=500, gt=0)
    # Records Faust holds per stream ahead of the agent (its stream_buffer_maxsize). Faust
    # stops fetching a partition whose buffer is 80 % full and fetches again at 40 %: with
    # its default of 4,096 the agent of `bench process` waited for records more than it worked.
    buffer_size: int = Field(default=20_000, gt=0)
    # Where each worker serves /metrics. A port another process holds (a second worker on
    # this host) falls back to a free one, logged; 0 always takes a free one.
    metrics_host: str = "127.0.0.1"
    metrics_port: int = Field(default=9400, ge=0, lt=65536)
    # How often each worker measures its partitions' consumer lag for /metrics.
    lag_interval_seconds: float = Field(default=2.0, gt=0)
    # A SIGKILLed worker's partitions move to the others after this long without a
    # heartbeat; Kafka's 45 s default is long for a queue people are waiting on.
    session_timeout_seconds: float = Field(default=10.0, gt=0)
    heartbeat_seconds: float = Field(default=1.0, gt=0)
    # The longest the worker's consumer may go between polls before it leaves its group
    # (max.poll.interval). Jobs never hold the poll (the engine runs them beside it, an hour
    # if need be), so this bounds a stuck loop, not a job: the long-jobs test sets it far
    # below its jobs' length to show that.
    max_poll_interval_seconds: float = Field(default=300.0, gt=0)
    # The outbox relay (on the group's leader) publishes as soon as a claim or settle of
    # its own worker wrote to the outbox; what the group's other workers write it finds by
    # looking this often, so with several workers their results wait up to this long more.
    publish_interval_seconds: float = Field(default=0.05, gt=0)
    # On SIGTERM, how long jobs in flight may run on before they are stopped; a stopped
    # job is done again by the partition's next owner (it applied nothing).
    stop_grace_seconds: float = Field(default=30.0, ge=0)
    # How often a worker asks the store which of its jobs in flight were cancelled.
    cancel_poll_seconds: float = Field(default=0.25, gt=0)
    # How often a worker writes its handlers' progress reports (the latest of each job, all
    # in one statement): a handler may report as often as it likes at no cost to the store.
    progress_interval_seconds: float = Field(default=0.5, gt=0)


class SmtpSettings(BaseModel):
    """The mail server the notifications handler sends through."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    host: str = "127.0.0.1"
    port: int = Field(default=8025, gt=0, lt=65536)
    sender: str = "conveyor@localhost"
    username: str | None = None
    password: SecretStr | None = None
    starttls: bool = False
    timeout_seconds: float = Field(default=10.0, gt=0)
    # Mail servers throttle senders; staying under their limit avoids 4xx refusals.
    rate_per_second: float = Field(default=100.0, gt=0)


class ReportSettings(BaseModel):
    """Where the reports stream's handler writes its charts."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    # Unset: ``reports`` under the data directory.
    directory: Path | None = None


def _default_data_dir() -> Path:
    return Path.home() / ".local" / "share" / "conveyor"


def _default_cache_dir() -> Path:
    return Path.home() / ".cache" / "conveyor"


class Settings(BaseSettings):
    """Everything conveyor reads from its environment, frozen once loaded."""

    model_config = SettingsConfigDict(
        env_prefix="CONVEYOR_",
        env_nested_delimiter="__",
        frozen=True,
        extra="forbid",
    )

    kafka: KafkaSettings = KafkaSettings()
    schema_registry: RegistrySettings = RegistrySettings()
    api: ApiSettings = ApiSettings()
    dashboard: DashboardSettings = DashboardSettings()
    workers: WorkerSettings = WorkerSettings()
    smtp: SmtpSettings = SmtpSettings()
    reports: ReportSettings = ReportSettings()
    telemetry: TelemetrySettings = TelemetrySettings()
    webhooks: WebhookSettings = WebhookSettings()
    # Local state of `conveyor broker` and `conveyor up` (broker data, pids, logs).
    data_dir: Path = Field(default_factory=_default_data_dir)
    # Downloaded artifacts (the Kafka runtime resolved by Maven); safe to delete.
    cache_dir: Path = Field(default_factory=_default_cache_dir)
    database_url: str = "sqlite:///conveyor.db"
    # Where clients (`conveyor send`, the Python client) find the API, and their key.
    api_url: str = "http://127.0.0.1:8000"
    api_key: SecretStr | None = None
    streams: dict[str, StreamDeclaration] = Field(default_factory=load_streams)

    @field_validator("streams", mode="before")
    @classmethod
    def _streams_named_by_their_keys(cls, value: Any) -> Any:
        """In YAML a stream's name is its key; each declaration learns it here."""
        if isinstance(value, dict):
            return {name: parse_stream(name, spec) for name, spec in value.items()}
        return value

    @model_validator(mode="after")
    def _webhooks_have_their_stream(self) -> Settings:
        """A stream's webhook needs the stream that delivers it, with a handler."""
        delivering = self.streams.get(self.webhooks.stream)
        declaring = [s.name for s in self.streams.values() if s.webhook is not None]
        if declaring and (delivering is None or delivering.handler is None):
            raise ValueError(
                f"streams {', '.join(declaring)} declare a webhook, but webhooks.stream "
                f"{self.webhooks.stream!r} is not a declared stream with a handler"
            )
        return self

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        return (
            init_settings,
            env_settings,
            _EcosystemEnv(settings_cls),
            _YamlFile(settings_cls),
        )


class _EcosystemEnv(PydanticBaseSettingsSource):
    """``KAFKA_<FIELD>`` and ``SCHEMA_REGISTRY_<FIELD>``, below the ``CONVEYOR_`` names.

    These are the names Kafka tooling (and our docker-compose file) already use.
    """

    _SECTIONS: tuple[tuple[str, type[BaseModel], str], ...] = (
        ("kafka", KafkaSettings, "KAFKA_"),
        ("schema_registry", RegistrySettings, "SCHEMA_REGISTRY_"),
    )

    def get_field_value(self, field: Any, field_name: str) -> tuple[Any, str, bool]:
        raise NotImplementedError  # __call__ reads whole sections at once

    def __call__(self) -> dict[str, Any]:
        sections: dict[str, Any] = {}
        for section, model, prefix in self._SECTIONS:
            for name, field in model.model_fields.items():
                value: Any = os.environ.get(prefix + name.upper())
                if value is None:
                    continue
                if self.field_is_complex(field):  # dicts come as JSON, as in pydantic-settings
                    value = self.decode_complex_value(name, field, value)
                sections.setdefault(section, {})[name] = value
        return sections


class _YamlFile(PydanticBaseSettingsSource):
    """The YAML file named by ``CONVEYOR_CONFIG``, if any."""

    def get_field_value(self, field: Any, field_name: str) -> tuple[Any, str, bool]:
        raise NotImplementedError  # __call__ reads the whole file at once

    def __call__(self) -> dict[str, Any]:
        path = os.environ.get(CONFIG_ENV)
        if not path:
            return {}
        try:
            loaded = yaml.safe_load(Path(path).read_text())
        except OSError as exc:
            raise ConfigError(f"{CONFIG_ENV}={path}: cannot read it ({exc.strerror})") from exc
        except yaml.YAMLError as exc:
            raise ConfigError(f"{CONFIG_ENV}={path}: not valid YAML ({exc})") from exc
        if loaded is None:
            return {}
        if not isinstance(loaded, dict):
            raise ConfigError(f"{CONFIG_ENV}={path}: expected a mapping at the top level")
        return loaded


def load_settings(**overrides: Any) -> Settings:
    """Load the settings, turning validation failures into one readable :class:`ConfigError`."""
    try:
        return Settings(**overrides)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in err['loc'])}: {err['msg']}" for err in exc.errors()
        )
        raise ConfigError(f"invalid settings: {problems}") from exc
