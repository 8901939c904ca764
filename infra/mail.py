"""A real SMTP server on loopback for the local stack and the tests: aiosmtpd, keeping
every message it accepts in a Maildir, where people and tests can read them."""

from __future__ import annotations

import mailbox
from email.message import Message
from pathlib import Path

from aiosmtpd.controller import Controller
from aiosmtpd.handlers import Mailbox

__all__ = ["LocalMailServer"]


class LocalMailServer:
    def __init__(
        self,
        maildir: Path,
        port: int,
        host: str = "127.0.0.1",
        handler: type[Mailbox] = Mailbox,
    ) -> None:
        self.maildir = maildir
        self.host = host
        self.port = port
        # A Mailbox subclass may answer some commands differently (the tests' refusals).
        self._handler = handler
        self._controller: Controller | None = None

    def start(self) -> None:
        self.maildir.parent.mkdir(parents=True, exist_ok=True)
        self._controller = Controller(
            self._handler(self.maildir), hostname=self.host, port=self.port
        )
        self._controller.start()

    def stop(self) -> None:
        if self._controller is not None:
            self._controller.stop()
            self._controller = None

    def messages(self) -> list[Message]:
        """Every message received so far (kept across restarts, in the Maildir)."""
        if not self.maildir.exists():
            return []
        return list(mailbox.Maildir(self.maildir, create=False))
