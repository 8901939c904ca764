"""Sending an e-mail once, across retries and crashes.

SMTP has no idempotency key, but it has a commit point: a server delivers a message
only when it receives the final ``.`` of ``DATA``, and discards one whose connection
drops before it. So each send writes its point of no return to the result store
just before that dot (``commit``), and a worker that finds the mark again, after a
crash or a redelivery, does not send a second time:

- stopped before the mark: nothing was delivered, and the retry sends it;
- stopped after the mark: the dot went out with the very next write, so the message
  was delivered, and the mark says so.

What is left is the time between the mark's commit and the write of three bytes to a
connected socket. If the server refuses the message after the dot, the mark is
withdrawn (``uncommit``) so that the next attempt can send it.
"""

from __future__ import annotations

import contextlib
import logging
import re
import smtplib
import ssl
import threading
from collections.abc import Callable
from email.message import EmailMessage
from email.policy import SMTP

from conveyor.config import SmtpSettings
from conveyor.processors.exceptions import (
    OutcomeUnknownError,
    PoisonError,
    ProcessorError,
    RetryLater,
)

__all__ = ["Mailer", "RefusedError"]

log = logging.getLogger(__name__)

_LEADING_DOT = re.compile(rb"(?m)^\.")


class RefusedError(PoisonError):
    """The server refused the message for good (a 5xx reply)."""


class Mailer:
    """One SMTP connection, opened on first use and reused; blocking (run it in a thread)."""

    def __init__(self, settings: SmtpSettings) -> None:
        self._settings = settings
        self._client: smtplib.SMTP | None = None
        # A stream's agents (its levels, retry and delay tiers) send at the same time, each
        # from a thread; the connection carries one message at a time.
        self._lock = threading.Lock()

    def close(self) -> None:
        with self._lock:
            if self._client is not None:
                with contextlib.suppress(smtplib.SMTPException, OSError):
                    self._client.quit()
                self._client = None

    def send(
        self,
        message: EmailMessage,
        commit: Callable[[], bool],
        uncommit: Callable[[], None],
    ) -> str:
        """Send ``message``; ``commit()`` marks the point of no return and answers False
        if another attempt already passed it (or raises, and nothing is sent). Returns the
        server's final reply."""
        with self._lock:
            return self._send(message, commit, uncommit)

    def _send(
        self,
        message: EmailMessage,
        commit: Callable[[], bool],
        uncommit: Callable[[], None],
    ) -> str:
        client = self._connect()
        try:
            self._expect(client.mail(self._settings.sender), "MAIL FROM")
            self._expect(client.rcpt(str(message["To"])), "RCPT TO")
            self._expect(client.docmd("DATA"), "DATA", ok=(354,))
            body = _LEADING_DOT.sub(b"..", message.as_bytes(policy=SMTP))
            client.send(body if body.endswith(b"\r\n") else body + b"\r\n")
        except (smtplib.SMTPException, OSError) as exc:
            self._drop()
            raise RetryLater(f"SMTP {self._address}: {exc}") from exc
        try:
            committed = commit()
        except BaseException:
            self._drop()  # mid-DATA: without the dot, the server drops the message
            raise
        if not committed:
            # Another attempt passed the mark: leave without the dot, which drops this copy.
            self._drop()
            return "already sent by an earlier attempt"
        try:
            client.send(b".\r\n")
            code, reply = client.getreply()
        except (smtplib.SMTPException, OSError) as exc:
            self._drop()
            raise OutcomeUnknownError(
                f"SMTP {self._address}: connection lost after the message was committed ({exc});"
                " not sent again, to avoid a duplicate"
            ) from exc
        if code != 250:
            uncommit()
            self._refused(code, reply, "end of DATA")
        return f"{code} {reply.decode(errors='replace')}"

    @property
    def _address(self) -> str:
        return f"{self._settings.host}:{self._settings.port}"

    def _connect(self) -> smtplib.SMTP:
        if self._client is not None:
            try:
                self._expect(self._client.rset(), "RSET")
                return self._client
            except (smtplib.SMTPException, OSError, ProcessorError):
                self._drop()  # the server closed an idle connection: open a new one
        settings = self._settings
        try:
            client = smtplib.SMTP(settings.host, settings.port, timeout=settings.timeout_seconds)
            client.ehlo()
            if settings.starttls:
                client.starttls(context=ssl.create_default_context())
                client.ehlo()
            if settings.username and settings.password:
                client.login(settings.username, settings.password.get_secret_value())
        except (smtplib.SMTPException, OSError) as exc:
            raise RetryLater(f"cannot reach the mail server {self._address}: {exc}") from exc
        self._client = client
        return client

    def _drop(self) -> None:
        if self._client is not None:
            try:
                self._client.close()
            finally:
                self._client = None

    def _expect(
        self, answer: tuple[int, bytes], step: str, ok: tuple[int, ...] = (250, 251)
    ) -> None:
        code, reply = answer
        if code not in ok:
            self._refused(code, reply, step)

    def _refused(self, code: int, reply: bytes, step: str) -> None:
        text = f"SMTP {self._address} refused {step}: {code} {reply.decode(errors='replace')}"
        if 400 <= code < 500:
            raise RetryLater(text)
        raise RefusedError(text)
