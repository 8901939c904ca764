"""Who holds a local TCP port: the process behind the socket, found through ``/proc``.

Only asked once a port is known to be taken, to name the culprit in the error; where
``/proc`` is missing or the holder belongs to another user, the answer is None.
"""

from __future__ import annotations

import os
from pathlib import Path

__all__ = ["port_holder"]

_PROC = Path("/proc")
# Long enough to tell a Kafka node (its server.properties comes last) from a registry or
# a test runner, short enough for a one-line error.
_COMMAND_WIDTH = 100


def port_holder(port: int) -> str | None:
    """``pid 123 (java … /data/kafka/node-1/server.properties)``, or None if not found."""
    inodes = _socket_inodes(port)
    if not inodes:
        return None
    for proc in _PROC.iterdir():
        if proc.name.isdigit() and inodes & _open_sockets(proc):
            return f"pid {proc.name} ({_command(proc)})"
    return None


def _socket_inodes(port: int) -> set[str]:
    """The inodes of every IPv4 and IPv6 TCP socket bound to ``port`` on any address."""
    inodes = set()
    for table in ("tcp", "tcp6"):
        try:
            rows = (_PROC / "net" / table).read_text().splitlines()[1:]
        except OSError:
            continue
        for row in rows:
            fields = row.split()
            # local_address is ADDRESS:PORT in hex; inode is the tenth field.
            if int(fields[1].rsplit(":", 1)[1], 16) == port and fields[9] != "0":
                inodes.add(f"socket:[{fields[9]}]")
    return inodes


def _open_sockets(proc: Path) -> set[str]:
    try:
        fds = list((proc / "fd").iterdir())
    except OSError:  # another user's process, or gone meanwhile
        return set()
    targets = set()
    for fd in fds:
        try:
            targets.add(os.readlink(fd))
        except OSError:
            continue
    return targets


def _command(proc: Path) -> str:
    try:
        args = (proc / "cmdline").read_bytes().rstrip(b"\0").decode(errors="replace").split("\0")
    except OSError:
        return "?"
    command = " ".join([Path(args[0]).name, *args[1:]])
    if len(command) <= _COMMAND_WIDTH:
        return command
    # A JVM's classpath fills the middle; what names the process is at either end.
    return f"{Path(args[0]).name} … {command[-(_COMMAND_WIDTH - 4) :]}"
