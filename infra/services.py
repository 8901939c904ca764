"""conveyor's own long-running processes (API, workers) as children of ``conveyor up``."""

from __future__ import annotations

import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path

from conveyor.infra.exceptions import StartupError

__all__ = ["conveyor_service", "http_ok"]


def http_ok(url: str) -> bool:
    """Whether ``url`` answers 200 right now."""
    try:
        with urllib.request.urlopen(url, timeout=2) as response:  # noqa: S310 - our own loopback URL
            return bool(response.status == 200)
    except (urllib.error.URLError, ConnectionError, TimeoutError):
        return False


@contextmanager
def conveyor_service(
    args: list[str], env: Mapping[str, str], log: Path, ready_url: str, timeout: float = 90.0
) -> Iterator[subprocess.Popen[bytes]]:
    """Run ``conveyor ARGS`` until the block ends; ready once ``ready_url`` answers 200."""
    log.parent.mkdir(parents=True, exist_ok=True)
    with log.open("ab") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "conveyor.cli", *args],
            env=dict(env),
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    try:
        deadline = time.monotonic() + timeout
        while not http_ok(ready_url):
            if proc.poll() is not None or time.monotonic() > deadline:
                raise StartupError(f"`conveyor {' '.join(args)}` did not become ready", [log])
            time.sleep(0.3)
        yield proc
    finally:
        proc.terminate()
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
