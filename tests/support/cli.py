"""Running the ``conveyor`` command as a user would: a subprocess, text out."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path

from conveyor.config import Settings
from conveyor.infra.services import service_env


def conveyor(
    *args: str,
    env: Mapping[str, str] | None = None,
    stdin: str | None = None,
    timeout: float = 180,
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "conveyor.cli", *args],
        env=None if env is None else dict(env),
        input=stdin,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def environment(settings: Settings, port: int | None = None) -> dict[str, str]:
    """What a shell would export to run `conveyor` against this test's stack (the rest of
    its settings in a config file beside its result store), with the API on ``port``."""
    config = Path(settings.database_url.removeprefix("sqlite:///")).with_name("conveyor.yaml")
    env = service_env(settings, config)
    if port is not None:
        env["CONVEYOR_API__PORT"] = str(port)
        env["CONVEYOR_API_URL"] = f"http://127.0.0.1:{port}"
    return env
