"""``conveyor worker``: one worker process; start several and they share the streams."""

from __future__ import annotations

import logging

import click
import faust

from conveyor.cli.options import note, settings
from conveyor.processors.app import build_worker
from conveyor.runtime.heap import freeze_startup_objects

__all__ = ["worker"]


@click.command()
def worker() -> None:
    """Process every stream that names a handler, until Ctrl-C or SIGTERM."""
    config = settings()
    built = build_worker(config)
    streams = ", ".join(e.processor.context.stream.name for e in built.engines) or "none"
    note(f"worker of group {config.workers.group_id} processing: {streams}")
    # What the consumer was given, as the group's tests and operators need to know it.
    conf = built.app.conf
    note(
        f"worker consumer session timeout {conf.broker_session_timeout:g}s, "
        f"max poll interval {conf.broker_max_poll_interval:g}s"
    )
    note(f"worker metrics at {built.telemetry.metrics_url}")
    # Faust installs its own SIGINT/SIGTERM handlers: the jobs in flight get the
    # workers' stop_grace_seconds to finish (the rest are stopped, unsettled, for the
    # next owner), then Faust commits what settled and closes the consumer.
    try:
        _Worker(
            built.app,
            loglevel=logging.getLogger().level,
            quiet=True,
            override_logging=False,
            redirect_stdouts=False,
        ).execute_from_commandline()
    finally:
        built.close()


class _Worker(faust.Worker):
    async def on_startup_finished(self) -> None:
        await super().on_startup_finished()
        freeze_startup_objects()
