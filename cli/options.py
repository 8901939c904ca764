"""Options and helpers several commands share."""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from datetime import datetime
from pathlib import Path
from typing import Any, TypeVar

import click

from conveyor.config import Settings, load_settings

__all__ = [
    "data_dir_option",
    "echo_env",
    "echo_json",
    "iso_time",
    "json_option",
    "json_text",
    "note",
    "settings",
    "state_dir",
]

F = TypeVar("F", bound=Callable[..., Any])

data_dir_option: Callable[[F], F] = click.option(
    "--data-dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Where local state lives (default: ~/.local/share/conveyor).",
)

json_option: Callable[[F], F] = click.option(
    "--json", "as_json", is_flag=True, help="Print one JSON object instead, for scripts."
)


class _IsoTime(click.ParamType):
    """An ISO-8601 time with its offset (``2026-11-01T12:00:00Z``): a bare local time
    would mean different instants on different machines."""

    name = "ISO-8601 time"

    def convert(
        self, value: object, param: click.Parameter | None, ctx: click.Context | None
    ) -> datetime:
        if isinstance(value, datetime):
            return value
        try:
            at = datetime.fromisoformat(str(value))
        except ValueError:
            self.fail(f"{value!r} is not an ISO-8601 time (e.g. 2026-11-01T12:00:00Z)", param, ctx)
        if at.tzinfo is None:
            self.fail(f"{value!r} needs its UTC offset (Z, +01:00, ...)", param, ctx)
        return at


iso_time = _IsoTime()


def settings() -> Settings:
    return load_settings()


def state_dir(config: Settings, data_dir: Path | None, part: str) -> Path:
    """``part`` (kafka, registry) below ``--data-dir`` or the configured data dir."""
    return (data_dir or config.data_dir) / part


def echo_env(env: Mapping[str, str]) -> None:
    """``NAME=value`` lines on stdout, for another shell to export."""
    for name, value in env.items():
        click.echo(f"{name}={value}")


def echo_json(document: object) -> None:
    """One JSON object on stdout (times in ISO-8601, other values as text)."""
    click.echo(json_text(document))


def json_text(document: object) -> str:
    return json.dumps(
        document, default=lambda v: v.isoformat() if isinstance(v, datetime) else str(v)
    )


def note(message: str) -> None:
    """Progress for people, on stderr, so stdout stays machine-readable."""
    click.echo(message, err=True)
