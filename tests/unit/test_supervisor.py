"""The supervisor of ``conveyor up``'s services: exits reported and reaped, restarts with a
growing delay, and a service that keeps dying given up on."""

from __future__ import annotations

import logging
import os
from pathlib import Path

import pytest

from conveyor.infra.exceptions import ServiceFailedError
from conveyor.infra.supervisor import RestartPolicy, Service, Supervisor
from support.processes import zombies_of
from support.waiting import wait_for


def test_restart_delays_double_from_the_first_up_to_the_cap() -> None:
    policy = RestartPolicy(first_delay=1.0, max_delay=10.0)

    assert [policy.delay(n) for n in range(1, 7)] == [1.0, 2.0, 4.0, 8.0, 10.0, 10.0]


def _exits_at_once(tmp_path: Path) -> Service:
    """A conveyor command that exits as soon as it starts, with status 0."""
    return Service("version", ["--version"], tmp_path / "version.log", lambda: True)


def test_a_service_that_keeps_exiting_soon_after_it_starts_is_given_up_on(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    policy = RestartPolicy(first_delay=0.01, max_delay=0.01, stable_after=600, max_exits=3)
    caplog.set_level(logging.WARNING, logger="conveyor.infra.supervisor")

    with Supervisor(os.environ, policy) as services:
        services.start(_exits_at_once(tmp_path))
        with pytest.raises(ServiceFailedError) as raised:
            services.watch(interval=0.01)

    message = str(raised.value)
    assert message.startswith("version (pid ")
    assert "exited with status 0" in message
    assert "its exit number 3 in a row" in message
    assert message.endswith(f"its log: {tmp_path / 'version.log'}")
    exits = [r for r in caplog.records if r.getMessage().startswith("service exited")]
    assert [getattr(r, "exit_code", None) for r in exits] == [0, 0]
    assert all(f"pid={getattr(r, 'pid', '?')} " in r.getMessage() for r in exits)
    assert zombies_of(os.getpid()) == []


def test_a_service_that_ran_long_enough_is_restarted_however_often_it_exits(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    policy = RestartPolicy(first_delay=0.01, max_delay=0.01, stable_after=0, max_exits=2)
    caplog.set_level(logging.WARNING, logger="conveyor.infra.supervisor")

    with Supervisor(os.environ, policy) as services:

        def restarted_twice() -> bool:
            services.check()
            restarts = [r for r in caplog.records if r.getMessage().startswith("service restarted")]
            return len(restarts) >= 2

        services.start(_exits_at_once(tmp_path))
        wait_for(restarted_twice, 60, 0.01, "two restarts")

    assert zombies_of(os.getpid()) == []
