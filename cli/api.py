"""``conveyor api``: serve the ingest API; ``conveyor api keygen``: make an API key."""

from __future__ import annotations

import secrets
import socket

import click
import uvicorn
import yaml

from conveyor.api import check_bind, create_app
from conveyor.api.auth import hash_key
from conveyor.api.state import AppState
from conveyor.cli.options import note, settings

__all__ = ["api"]


@click.group(invoke_without_command=True)
@click.option("--host", default=None, help="Listen address (default: settings api.host).")
@click.option("--port", type=int, default=None, help="Port (default: settings api.port).")
@click.pass_context
def api(ctx: click.Context, host: str | None, port: int | None) -> None:
    """Serve the ingest API (one process) until Ctrl-C or SIGTERM."""
    if ctx.invoked_subcommand is not None:
        return
    config = settings()
    overrides = {k: v for k, v in (("host", host), ("port", port)) if v is not None}
    config = config.model_copy(update={"api": config.api.model_copy(update=overrides)})
    check_bind(config.api)
    note(f"serving the ingest API on http://{config.api.host}:{config.api.port}")
    # uvicorn handles SIGINT/SIGTERM itself: it stops accepting, finishes requests in
    # flight, then runs the lifespan's shutdown (which flushes the producer).
    app = create_app(config)
    server = _Server(
        uvicorn.Config(
            app,
            host=config.api.host,
            port=config.api.port,
            # Named, not "auto": auto falls back to asyncio's loop and the pure-Python h11
            # parser without a word if these are missing, at several times the CPU a request.
            loop="uvloop",
            http="httptools",
            log_level="warning",
            access_log=False,
            log_config=None,
            # No proxy in front is assumed; trusting X-Forwarded-* is opt-in, not a default.
            proxy_headers=False,
            server_header=False,
        ),
        app.state.conveyor,
    )
    server.run()


class _Server(uvicorn.Server):
    """uvicorn's server that, when it stops, first answers the callers waiting for their
    jobs (``?wait=``) with their status then and ends the event streams: uvicorn finishes
    the requests in flight before anything of the app's stops, and a wait would hold it
    for up to its bound, an event stream for ever."""

    def __init__(self, config: uvicorn.Config, state: AppState) -> None:
        super().__init__(config)
        self._state = state

    async def shutdown(self, sockets: list[socket.socket] | None = None) -> None:
        if self._state.running is not None:
            self._state.running.watcher.release()
            self._state.running.followers.release()
        await super().shutdown(sockets)


@api.command()
@click.option("--name", required=True, help="Who the key is for; appears in logs.")
@click.option(
    "--stream", "streams", multiple=True, help="A stream it may post to (repeat); default: all."
)
@click.option("--rate", type=float, default=200.0, show_default=True, help="Requests/s.")
def keygen(name: str, streams: tuple[str, ...], rate: float) -> None:
    """Make a new API key: the key for the client, the entry for the API's config."""
    key = f"cvy_{secrets.token_urlsafe(32)}"
    entry = {
        "name": name,
        "sha256": hash_key(key),
        "streams": list(streams) or ["*"],
        "rate_per_second": rate,
    }
    click.echo(f"CONVEYOR_API_KEY={key}")
    note("add this under api.keys in the API's CONVEYOR_CONFIG file (the key is not stored):")
    note(yaml.safe_dump([entry], sort_keys=False).rstrip())
