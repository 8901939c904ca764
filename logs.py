"""Logging set-up, called once by each entry point (CLI, API, worker), never by a library module.

One event per line: ``time level logger message``, where messages are written as
``event key=value ...`` so they can be grepped and parsed alike.
"""

from __future__ import annotations

import logging
import sys

__all__ = ["configure_logging"]


def configure_logging(verbosity: int = 0) -> None:
    """WARNING by default, INFO with ``-v``, DEBUG with ``-vv``; to stderr."""
    level = {0: logging.WARNING, 1: logging.INFO}.get(verbosity, logging.DEBUG)
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(
        logging.Formatter("%(asctime)s %(levelname)s %(name)s %(message)s", "%Y-%m-%dT%H:%M:%S")
    )
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    # httpx logs every request at INFO; the schema registry client makes many.
    logging.getLogger("httpx2").setLevel(max(level, logging.WARNING))
    logging.getLogger("httpx").setLevel(max(level, logging.WARNING))
