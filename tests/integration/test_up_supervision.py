"""``conveyor up`` watches what it started: a worker or API that dies is reported, reaped
and started again, and the stack works afterwards."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from conveyor.client.http import ConveyorClient
from conveyor.config import Settings
from conveyor.infra.processes import free_port_block
from conveyor.infra.services import http_ok
from support.cli import environment
from support.events import orders_json
from support.processes import children_of, zombies_of
from support.waiting import wait_for


class Up:
    """A ``conveyor up`` process; what it says on stderr is kept in a file to read as it goes."""

    def __init__(self, proc: subprocess.Popen[str], stderr: Path, api_url: str) -> None:
        self.proc, self.stderr, self.api_url = proc, stderr, api_url

    def said(self, text: str) -> bool:
        return text in self.stderr.read_text()

    def service(self, command: str) -> int | None:
        """The pid of its child running ``conveyor COMMAND``, if one runs."""
        wanted = f"conveyor.cli\0{command}\0".encode()
        found = [pid for pid, cmdline in children_of(self.proc.pid).items() if wanted in cmdline]
        return found[0] if len(found) == 1 else None


@pytest.fixture
def up(stack_settings: Callable[..., Settings], tmp_path: Path) -> Iterator[Up]:
    port = free_port_block(1)
    env = environment(stack_settings(), port)
    stderr = tmp_path / "up.stderr"
    with stderr.open("w") as err:
        proc = subprocess.Popen(
            [sys.executable, "-m", "conveyor.cli", "up", "--data-dir", str(tmp_path / "state")],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=err,
            text=True,
        )
    running = Up(proc, stderr, f"http://127.0.0.1:{port}")
    try:
        wait_for(
            lambda: running.said("conveyor is up") or proc.poll() is not None,
            timeout=180,
            what="conveyor up to be ready",
        )
        assert proc.poll() is None, stderr.read_text()
        yield running
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            proc.wait(timeout=120)


def test_a_killed_worker_and_api_are_reported_restarted_and_reaped(up: Up) -> None:
    for command, name in [("worker", "worker-1"), ("api", "api")]:
        old = up.service(command)
        assert old is not None

        os.kill(old, signal.SIGKILL)

        wait_for(
            lambda: up.said(f"service exited name={name} pid={old} signal=SIGKILL"),  # noqa: B023
            timeout=30,
            what=f"the killed {name} to be reported",
        )
        new = wait_for(
            lambda: (pid := up.service(command)) != old and pid,  # noqa: B023
            timeout=30,
            what=f"{name} to be started again",
        )
        assert up.said(f"service restarted name={name} pid={new}")

    assert zombies_of(up.proc.pid) == []
    restarted = [pid for pid in (up.service("worker"), up.service("api")) if pid is not None]
    assert len(restarted) == 2
    # The stack works again: the new API accepts an event and the new worker processes it.
    wait_for(lambda: http_ok(f"{up.api_url}/readyz"), timeout=60, what="the new API")
    order = orders_json(1)[0]
    with ConveyorClient(up.api_url) as client:
        [receipt] = client.send_batch("orders", [order])
        wait_for(
            lambda: client.job(receipt["event_id"])["status"] == "succeeded",
            timeout=120,
            what="the order to be processed by the new worker",
        )

    up.proc.send_signal(signal.SIGTERM)  # what Ctrl-C does, for a process without a terminal
    assert up.proc.wait(timeout=120) == 0, up.stderr.read_text()
    assert up.said("stopping ...")
    assert [pid for pid in restarted if Path(f"/proc/{pid}").exists()] == []
