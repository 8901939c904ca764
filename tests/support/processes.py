"""Looking at processes from outside, as a user with ``ps`` would: by command line and parent."""

from __future__ import annotations

import os
from pathlib import Path


def alive(pid: int) -> bool:
    """Whether process ``pid`` exists (a zombie not yet reaped counts)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def processes_mentioning(text: str | Path) -> list[int]:
    """Live processes whose command line holds ``text`` (a data dir names our JVMs)."""
    return [pid for pid, cmdline, _ in _processes() if str(text).encode() in cmdline]


def children_of(parent: int) -> dict[int, bytes]:
    """The live children of ``parent`` and their command lines (NUL-separated)."""
    return {pid: cmdline for pid, cmdline, ppid in _processes() if ppid == parent}


def zombies_of(parent: int) -> list[int]:
    """Children of ``parent`` that exited and were never reaped (``<defunct>``)."""
    return [pid for pid, state, ppid in _stats() if ppid == parent and state == "Z"]


def _processes() -> list[tuple[int, bytes, int]]:
    found = []
    for pid, state, ppid in _stats():
        try:
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
        except OSError:
            continue
        if state != "Z":
            found.append((pid, cmdline, ppid))
    return found


def _stats() -> list[tuple[int, str, int]]:
    """(pid, state, parent pid) of every process."""
    stats = []
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            stat = (proc / "stat").read_text()
        except OSError:
            continue
        # The command name in parentheses may hold spaces; what follows does not.
        state, ppid = stat.rsplit(")", 1)[1].split()[:2]
        stats.append((int(proc.name), state, int(ppid)))
    return stats
