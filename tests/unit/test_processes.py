"""Finding, recognising and stopping the launcher's processes."""

from __future__ import annotations

import os
import socket
import sys
import time
import uuid
from pathlib import Path

import pytest

from conveyor.infra import processes
from conveyor.infra.exceptions import PortInUseError
from support.waiting import wait_for


def test_a_port_something_listens_on_is_reported_in_use_with_who_holds_it() -> None:
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        port = listener.getsockname()[1]

        with pytest.raises(PortInUseError, match=f"port {port} ") as raised:
            processes.ensure_ports_free([port])

    assert raised.value.holder is not None
    assert raised.value.holder.startswith(f"pid {os.getpid()} (")  # the test itself holds it


def test_port_blocks_stay_below_the_ports_the_kernel_gives_outgoing_connections() -> None:
    first_ephemeral = int(Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()[0])

    for _ in range(50):
        base = processes.free_port_block(3, offset=100)
        assert base + 2 + 100 < first_ephemeral


def test_a_spawned_process_is_recognised_by_its_marker_and_stopped(tmp_path: Path) -> None:
    marker = f"marker-{uuid.uuid4()}"
    pid = processes.spawn(
        [sys.executable, "-c", "import time; time.sleep(60)", marker],
        tmp_path / "out.log",
        cwd=tmp_path,
    )

    # Popen returns while the child is still inside execve, when its command line reads
    # empty and any marker passes: wait it out.
    cmdline = Path(f"/proc/{pid}/cmdline")
    wait_for(lambda: marker.encode() in cmdline.read_bytes(), 10, 0.01, "its command line")
    assert processes.is_running(pid, marker)
    assert not processes.is_running(pid, "another-marker")
    assert processes.stop(pid, marker, timeout=10) is False  # exited on SIGTERM
    assert not processes.is_running(pid, marker)
    with pytest.raises(ChildProcessError):  # reaped: no zombie left behind
        os.waitpid(pid, os.WNOHANG)


def test_a_process_that_ignores_sigterm_is_killed_after_the_bound(tmp_path: Path) -> None:
    marker = f"stubborn-{uuid.uuid4()}"
    code = "import signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); time.sleep(60)"
    pid = processes.spawn([sys.executable, "-c", code, marker], tmp_path / "out.log", tmp_path)
    time.sleep(0.5)  # let it install its handler; what we test is what happens after

    assert processes.stop(pid, marker, timeout=1) is True
    assert not processes.is_running(pid, marker)


def test_our_own_pid_without_the_marker_is_not_mistaken_for_a_broker() -> None:
    assert not processes.is_running(os.getpid(), f"kafka-{uuid.uuid4()}")
