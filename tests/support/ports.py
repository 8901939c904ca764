"""Free ports for processes the tests start, so runs never collide with a dev stack."""

from __future__ import annotations

import random

from conveyor.infra.exceptions import PortInUseError
from conveyor.infra.kafka.properties import CONTROLLER_PORT_OFFSET
from conveyor.infra.processes import ensure_ports_free


def free_port_block(size: int, with_controllers: bool = False) -> int:
    """The first of ``size`` consecutive free ports (and their controller ports)."""
    rng = random.Random()
    for _ in range(200):
        base = rng.randrange(20_000, 40_000)
        ports = list(range(base, base + size))
        if with_controllers:
            ports += [p + CONTROLLER_PORT_OFFSET for p in ports]
        try:
            ensure_ports_free(ports)
        except PortInUseError:
            continue
        return base
    raise RuntimeError("no free port block found")
