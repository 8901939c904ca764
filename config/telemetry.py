"""What conveyor tells its operators: the log format and where traces go.

Metrics need no setting to be on (Prometheus pulls them); the workers' listener is
under ``workers`` (``metrics_host``, ``metrics_port``), the API serves ``/metrics`` itself.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator

__all__ = ["TelemetrySettings"]


class TelemetrySettings(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    # `json`: one JSON object a line, with event_id, trace_id, topic, partition and offset
    # as fields on every line about an event; `text`: one `time level logger message` line.
    log_format: Literal["text", "json"] = "text"
    # An OpenTelemetry collector's OTLP/HTTP address (spans go to its /v1/traces), e.g.
    # http://127.0.0.1:4318. Unset, tracing is off: no SDK is loaded and no span is made.
    otlp_endpoint: str | None = None
    # Sent with every export, e.g. a hosted collector's API key.
    otlp_headers: dict[str, SecretStr] = Field(default_factory=dict)
    # The share of traces recorded, chosen by trace id, so that the API and the workers keep
    # the same ones (a trace whose caller did not sample it is not recorded either).
    sample_ratio: float = Field(default=1.0, ge=0.0, le=1.0)
    # Where a trace is shown, with ``{trace_id}`` in it (e.g. Jaeger's
    # http://127.0.0.1:16686/trace/{trace_id}): the dashboard links each job to its trace.
    trace_url: str | None = None

    @field_validator("trace_url")
    @classmethod
    def _names_the_trace(cls, url: str | None) -> str | None:
        if url is not None and "{trace_id}" not in url:
            raise ValueError("trace_url must hold {trace_id}, where a job's trace id goes")
        return url
