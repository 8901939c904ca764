"""Options and helpers several commands share."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, TypeVar

import click

from conveyor.config import Settings, load_settings

__all__ = ["data_dir_option", "echo_env", "note", "settings", "state_dir"]

F = TypeVar("F", bound=Callable[..., Any])

data_dir_option: Callable[[F], F] = click.option(
    "--data-dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Where local state lives (default: ~/.local/share/conveyor).",
)


def settings() -> Settings:
    return load_settings()


def state_dir(config: Settings, data_dir: Path | None, part: str) -> Path:
    """``part`` (kafka, registry) below ``--data-dir`` or the configured data dir."""
    return (data_dir or config.data_dir) / part


def echo_env(env: Mapping[str, str]) -> None:
    """``NAME=value`` lines on stdout, for another shell to export."""
    for name, value in env.items():
        click.echo(f"{name}={value}")


def note(message: str) -> None:
    """Progress for people, on stderr, so stdout stays machine-readable."""
    click.echo(message, err=True)
