"""Errors of the local infrastructure launchers."""

from __future__ import annotations

from pathlib import Path

from conveyor.exceptions import ConveyorError

__all__ = [
    "InfraError",
    "NotRunningError",
    "PortInUseError",
    "PrerequisiteError",
    "ResolutionError",
    "ServiceFailedError",
    "StartupError",
]


class InfraError(ConveyorError):
    """A local broker or registry could not be resolved, started or stopped."""


class PrerequisiteError(InfraError):
    """Java or Maven is missing or too old."""


class ResolutionError(InfraError):
    """Maven could not resolve an artifact; ``log`` holds Maven's output."""

    def __init__(self, message: str, log: Path) -> None:
        super().__init__(f"{message} (Maven's output: {log})")
        self.log = log


class PortInUseError(InfraError):
    """A port the launcher needs is taken by another process."""

    def __init__(self, port: int, holder: str | None = None) -> None:
        held = (
            f"held by {holder}"
            if holder
            else "another broker or registry? try `conveyor broker status`"
        )
        super().__init__(f"port {port} on 127.0.0.1 is already in use ({held})")
        self.port = port
        self.holder = holder


class StartupError(InfraError):
    """A process started but did not become ready; ``logs`` are where to look."""

    def __init__(self, message: str, logs: list[Path]) -> None:
        where = ", ".join(str(p) for p in logs)
        super().__init__(f"{message}; logs: {where}")
        self.reason = message
        self.logs = logs


class NotRunningError(InfraError):
    """There is no local process recorded in the data directory."""


class ServiceFailedError(InfraError):
    """A supervised service kept exiting soon after each start and was given up on."""

    def __init__(self, message: str, log: Path) -> None:
        super().__init__(f"{message}; its log: {log}")
        self.log = log
