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
    streams = ", ".join(p.context.stream.name for p in built.processors) or "none"
    note(f"worker of group {config.workers.group_id} processing: {streams}")
    note(f"worker metrics at {built.telemetry.metrics_url}")
    # Faust installs its own SIGINT/SIGTERM handlers: it stops the agents (each one
    # finishes the batch it holds), commits offsets and closes the consumer.
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
