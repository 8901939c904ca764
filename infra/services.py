"""conveyor's own long-running processes (API, workers) as children of ``conveyor up``."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path

import yaml
from pydantic import BaseModel, SecretStr

from conveyor.config import Settings
from conveyor.infra.exceptions import StartupError

__all__ = [
    "conveyor_service",
    "http_ok",
    "service_env",
    "spawn_service",
    "stop_service",
    "wait_until_ready",
]


def http_ok(url: str) -> bool:
    """Whether ``url`` answers 200 right now."""
    try:
        with urllib.request.urlopen(url, timeout=2) as response:  # noqa: S310 - our own loopback URL
            return bool(response.status == 200)
    except (urllib.error.URLError, ConnectionError, TimeoutError):
        return False


def service_env(settings: Settings, config: Path) -> dict[str, str]:
    """The environment of a conveyor process that runs with exactly ``settings``: the
    connections as variables, the rest (streams, API, workers, SMTP, reports, telemetry) in
    the YAML file ``config``, written here."""
    sections = settings.model_dump(
        mode="json",
        by_alias=True,
        include={"streams", "api", "workers", "smtp", "reports", "telemetry", "webhooks"},
    )
    config.write_text(yaml.safe_dump(sections, sort_keys=False))
    # The YAML shows secrets masked; the collector's key rides in the child's environment.
    headers = settings.telemetry.otlp_headers
    secrets = {k: v.get_secret_value() for k, v in headers.items()}
    return {
        **os.environ,
        **({"CONVEYOR_TELEMETRY__OTLP_HEADERS": json.dumps(secrets)} if secrets else {}),
        **_webhook_secrets_env(settings),
        **_connection_env("KAFKA_", settings.kafka),
        **_connection_env("SCHEMA_REGISTRY_", settings.schema_registry),
        "CONVEYOR_CONFIG": str(config),
        "CONVEYOR_DATABASE_URL": settings.database_url,
        "CONVEYOR_DATA_DIR": str(settings.data_dir),
    }


def _webhook_secrets_env(settings: Settings) -> dict[str, str]:
    """The webhook secrets, which the YAML shows masked: the API keys whole (a list, which
    a variable replaces) and each stream's secret by name."""
    env = {}
    keys = settings.api.keys
    if any(key.webhook_secret is not None for key in keys):
        env["CONVEYOR_API__KEYS"] = json.dumps(
            [
                {
                    **key.model_dump(mode="json"),
                    "webhook_secret": key.webhook_secret.get_secret_value()
                    if key.webhook_secret
                    else None,
                }
                for key in keys
            ]
        )
    for stream in settings.streams.values():
        if stream.webhook is not None:
            variable = f"CONVEYOR_STREAMS__{stream.name}__WEBHOOK__SECRET"
            env[variable] = stream.webhook.secret.get_secret_value()
    return env


def _connection_env(prefix: str, section: BaseModel) -> dict[str, str]:
    """Every setting of a connection (``kafka``, ``schema_registry``) as the variable its
    loader reads (``KAFKA_SASL_PASSWORD``), so SASL and SSL reach the child too. Secrets go
    here, readable by the child's user only, and never into the YAML file or a command line."""
    env = {}
    for name in type(section).model_fields:
        value = getattr(section, name)
        if value is None:
            continue
        if isinstance(value, SecretStr):
            value = value.get_secret_value()
        elif isinstance(value, dict):
            value = json.dumps(value)
        env[prefix + name.upper()] = str(value)
    return env


@contextmanager
def conveyor_service(
    args: list[str],
    env: Mapping[str, str],
    log: Path,
    ready: Callable[[], bool],
    timeout: float = 90.0,
) -> Iterator[subprocess.Popen[bytes]]:
    """Run ``conveyor ARGS`` until the block ends; ready once ``ready()`` says so."""
    proc = spawn_service(args, env, log)
    try:
        wait_until_ready(proc, args, log, ready, timeout)
        yield proc
    finally:
        stop_service(proc)


def spawn_service(args: list[str], env: Mapping[str, str], log: Path) -> subprocess.Popen[bytes]:
    """Start ``conveyor ARGS``, its output appended to ``log``."""
    log.parent.mkdir(parents=True, exist_ok=True)
    with log.open("ab") as out:
        return subprocess.Popen(
            [sys.executable, "-m", "conveyor.cli", *args],
            env=dict(env),
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
        )


def wait_until_ready(
    proc: subprocess.Popen[bytes],
    args: list[str],
    log: Path,
    ready: Callable[[], bool],
    timeout: float,
) -> None:
    """Return once ``ready()`` says so; raise :class:`StartupError` if ``proc`` exits or
    ``timeout`` passes first."""
    deadline = time.monotonic() + timeout
    while not ready():
        command = f"`conveyor {' '.join(args)}`"
        if (status := proc.poll()) is not None:
            raise StartupError(f"{command} exited with status {status} before it was ready", [log])
        if time.monotonic() > deadline:
            raise StartupError(f"{command} did not become ready in {timeout:.0f}s", [log])
        time.sleep(0.3)


def stop_service(proc: subprocess.Popen[bytes]) -> None:
    """SIGTERM, SIGKILL after 30 s, and reap it."""
    proc.terminate()
    try:
        proc.wait(30)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
