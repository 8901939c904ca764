"""A webhook receiver on loopback: each POST appended to a JSON-lines file before it is
answered, so what a receiver killed with SIGKILL acknowledged is on disk.

In a thread of the test (:class:`WebhookReceiver`), or as a process of its own that a
chaos test can kill (``python webhook_receiver.py PORT FILE``)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from standardwebhooks import Webhook


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True  # a restarted receiver takes its port back at once
    status = 200
    log_fd = -1


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, as a real receiver
    server: _Server

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("content-length", "0")))
        line = json.dumps(
            {"headers": {k.lower(): v for k, v in self.headers.items()}, "body": body.decode()}
        )
        os.write(self.server.log_fd, (line + "\n").encode())
        self.send_response(self.server.status)
        self.send_header("content-length", "0")
        self.end_headers()

    def log_message(self, format: str, *args: Any) -> None:
        pass


class WebhookReceiver:
    """A receiver in this process; ``status`` is what it answers."""

    def __init__(self, port: int, log: Path) -> None:
        self.log = log
        self.url = f"http://127.0.0.1:{port}/hook"
        self._server = _Server(("127.0.0.1", port), _Handler)
        self._server.log_fd = os.open(log, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def status(self) -> int:
        return self._server.status

    @status.setter
    def status(self, value: int) -> None:
        self._server.status = value

    def __enter__(self) -> WebhookReceiver:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._server.shutdown()
        self._server.server_close()
        os.close(self._server.log_fd)

    def received(self) -> list[dict[str, Any]]:
        return received(self.log)


def received(log: Path) -> list[dict[str, Any]]:
    """Every POST the receiver(s) writing ``log`` answered, in order."""
    if not log.exists():
        return []
    return [json.loads(line) for line in log.read_text().splitlines() if line.endswith("}")]


def receiver_process(port: int, log: Path) -> subprocess.Popen[bytes]:
    """A receiver in a process of its own, ready when this returns."""
    proc = subprocess.Popen(
        [sys.executable, __file__, str(port), str(log)],
        stdout=subprocess.PIPE,
        stdin=subprocess.DEVNULL,
    )
    assert proc.stdout is not None
    ready = proc.stdout.readline().strip()
    proc.stdout.close()  # nothing more is said on it
    assert ready == b"ready"
    return proc


def signature_valid(secret: str, request: dict[str, Any]) -> bool:
    """Whether ``request``'s ``webhook-signature`` signs its id, timestamp and body under
    ``secret`` (without the receiver's clock check: this is read after the run)."""
    headers = request["headers"]
    timestamp = int(headers["webhook-timestamp"])
    expected = Webhook(secret).sign(
        headers["webhook-id"], datetime.fromtimestamp(timestamp, UTC), request["body"].encode()
    )
    return expected in headers["webhook-signature"].split(" ")


if __name__ == "__main__":
    server = _Server(("127.0.0.1", int(sys.argv[1])), _Handler)
    server.log_fd = os.open(sys.argv[2], os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
    print("ready", flush=True)
    server.serve_forever()
