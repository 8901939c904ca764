"""Logging set-up, called once by each entry point (CLI, API, worker), never by a library module.

One event per line. As text: ``time level logger message``, where messages are written
as ``event key=value ...`` so they can be grepped and parsed alike. As JSON: one object
a line with ``time``, ``level``, ``logger`` and ``message``, plus every field the call
passed in ``extra`` (lines about an event carry ``event_id``, ``trace_id``, ``topic``,
``partition`` and ``offset``), for log stores that index fields.
"""

from __future__ import annotations

import json
import logging
import sys
from datetime import UTC, datetime
from typing import Literal

__all__ = ["LogFormat", "LogSetup", "configure_logging", "current_logging", "log_as"]

LogFormat = Literal["text", "json"]
LogSetup = tuple[int, LogFormat]  # a level and a format, for a child process to log as we do

# What every LogRecord has; anything else on a record came from a call's ``extra``.
_RECORD_ATTRIBUTES = frozenset(vars(logging.makeLogRecord({}))) | {"message", "asctime"}


class _JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, object] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        line.update((k, v) for k, v in vars(record).items() if k not in _RECORD_ATTRIBUTES)
        if record.exc_info:
            line["exception"] = self.formatException(record.exc_info)
        return json.dumps(line, default=str)


def configure_logging(verbosity: int = 0, log_format: LogFormat = "text") -> None:
    """WARNING by default, INFO with ``-v``, DEBUG with ``-vv``; to stderr."""
    log_as(({0: logging.WARNING, 1: logging.INFO}.get(verbosity, logging.DEBUG), log_format))


def current_logging() -> LogSetup:
    """How this process logs, for a process it starts (a handler's pool process)."""
    root = logging.getLogger()
    as_json = any(isinstance(h.formatter, _JsonFormatter) for h in root.handlers)
    return root.level, "json" if as_json else "text"


def log_as(setup: LogSetup) -> None:
    """Log at ``setup``'s level and in its format, to stderr."""
    level, log_format = setup
    handler = logging.StreamHandler(sys.stderr)
    if log_format == "json":
        handler.setFormatter(_JsonFormatter())
    else:
        handler.setFormatter(
            logging.Formatter("%(asctime)s %(levelname)s %(name)s %(message)s", "%Y-%m-%dT%H:%M:%S")
        )
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    # httpx logs every request at INFO; the schema registry client makes many.
    logging.getLogger("httpx2").setLevel(max(level, logging.WARNING))
    logging.getLogger("httpx").setLevel(max(level, logging.WARNING))
