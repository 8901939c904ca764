"""Starting, finding and stopping the JVM processes of the local stack."""

from __future__ import annotations

import os
import random
import signal
import socket
import subprocess
import time
from collections.abc import Sequence
from pathlib import Path

from conveyor.infra.exceptions import PortInUseError
from conveyor.infra.port_holders import port_holder

__all__ = [
    "ensure_ports_free",
    "free_port_block",
    "is_running",
    "kill",
    "spawn",
    "stop",
    "tail",
]


def ensure_ports_free(ports: Sequence[int]) -> None:
    """Raise :class:`PortInUseError` for the first port something already holds, naming
    the process that holds it where ``/proc`` tells."""
    taken = _first_taken(ports)
    if taken is not None:
        raise PortInUseError(taken, port_holder(taken))


def _first_taken(ports: Sequence[int]) -> int | None:
    for port in ports:
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
            # Without SO_REUSEADDR a port in TIME_WAIT from our own last run counts as free,
            # which is what the JVM (which sets it) will see too.
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                sock.bind(("127.0.0.1", port))
            except OSError:
                return port
    return None


# Children started by this process, kept so they are reaped when they exit (and so
# Popen does not warn that it was dropped while its process still ran).
_children: dict[int, subprocess.Popen[bytes]] = {}


def free_port_block(size: int, offset: int | None = None) -> int:
    """The first of ``size`` consecutive free ports (and, with ``offset``, the same ports
    shifted by it), for stacks that must not collide with one already running.

    They lie below the ports the kernel gives outgoing connections: a client that keeps
    reconnecting to a stopped broker can be handed the broker's own port as its local one
    (a TCP self-connection), and the broker could then not listen there when it restarts.
    """
    rng = random.Random()  # noqa: S311 - picking ports, not secrets
    top = min(40_000, _first_ephemeral_port()) - size - (offset or 0)
    for _ in range(200):
        base = rng.randrange(20_000, top)
        ports = list(range(base, base + size))
        if offset is not None:
            ports += [p + offset for p in ports]
        if _first_taken(ports) is None:
            return base
    raise PortInUseError(0)


def _first_ephemeral_port() -> int:
    """Where the kernel's range of ports for outgoing connections begins."""
    try:
        return int(Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return 32_768  # Linux's default; macOS and Windows begin at 49152


def spawn(argv: Sequence[str], log: Path, cwd: Path) -> int:
    """Start ``argv`` detached from our session (it outlives the CLI), output to ``log``."""
    log.parent.mkdir(parents=True, exist_ok=True)
    with log.open("ab") as out:
        proc = subprocess.Popen(
            list(argv),
            cwd=cwd,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    _children[proc.pid] = proc
    return proc.pid


def is_running(pid: int, marker: str) -> bool:
    """Whether ``pid`` is alive *and* still ours: its command line contains ``marker``.

    Checking the command line keeps a recycled pid from passing for our process. Whether
    a child of ours is alive is asked with ``waitpid``, which reaps it once it has exited:
    ``/proc`` already shows a multithreaded child (the JVM) as a zombie while its other
    threads are still exiting, when it cannot be reaped yet and may still hold its ports.
    """
    child = _children.get(pid)
    if child is None:
        return _alive(pid) and _marked(pid, marker)
    if child.poll() is not None:
        del _children[pid]
        return False
    return _marked(pid, marker)


def _alive(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    # A zombie (state Z) has exited; it only waits for its parent to reap it.
    return stat.rsplit(")", 1)[-1].split()[0] != "Z"


def _marked(pid: int, marker: str) -> bool:
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return False
    # While a process execs (the java launcher may re-exec itself) its command line
    # reads empty for a moment: alive, not yet recognisable. A zombie's reads empty too.
    return not cmdline or marker.encode() in cmdline


def stop(pid: int, marker: str, timeout: float = 30.0) -> bool:
    """SIGTERM ``pid``, SIGKILL it if it outlives ``timeout``; True if it had to be killed."""
    if not is_running(pid, marker):
        return False
    os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not is_running(pid, marker):
            return False
        time.sleep(0.1)
    os.kill(pid, signal.SIGKILL)
    while is_running(pid, marker):
        time.sleep(0.05)
    return True


def kill(pid: int, marker: str) -> None:
    """SIGKILL ``pid`` and wait until it is gone: a crash, on purpose."""
    if is_running(pid, marker):
        os.kill(pid, signal.SIGKILL)
    while is_running(pid, marker):
        time.sleep(0.05)


def tail(path: Path, lines: int = 20) -> str:
    """The last ``lines`` lines of a log file, or '' if there is none yet."""
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return ""
