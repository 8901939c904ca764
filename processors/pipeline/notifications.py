"""Notifications: one e-mail per event, sent through SMTP, exactly once.

The e-mail's ``Message-ID`` is derived from the event id, so a reader (or a mail
system that deduplicates on it) can tell copies apart from distinct messages.
"""

from __future__ import annotations

import asyncio
import string
from datetime import UTC, datetime
from email.message import EmailMessage

from sqlalchemy import delete, select

from conveyor.common.ratelimit import TokenBucket
from conveyor.kafka.events import Event
from conveyor.processors.handler import Handler, HandlerContext, Processed
from conveyor.processors.mail import Mailer
from conveyor.store.cancels import commit_delivery
from conveyor.store.tables import deliveries

__all__ = ["EmailHandler", "message_id"]


# What the left of a Message-ID may hold (RFC 5322 atext), less "%", which escapes the rest.
_ATEXT = frozenset(string.ascii_letters + string.digits + "!#$&'*+-/=?^_`{|}~")


def message_id(event_id: str) -> str:
    """``<event_id@conveyor>``, each character a Message-ID may not hold percent-encoded
    (its UTF-8 bytes), dots too unless they only separate words. Left raw, a batch's
    ``key:index`` ids gave every e-mail of the batch the same ``Message-ID: <key``: the
    header ends at the colon, and a mail system that deduplicates on it drops the rest."""
    dots = all(event_id.split("."))  # none first, last or doubled
    return "<{}@conveyor>".format(
        "".join(
            char if char in _ATEXT or (char == "." and dots) else _escaped(char)
            for char in event_id
        )
    )


def _escaped(char: str) -> str:
    return "".join(f"%{byte:02X}" for byte in char.encode())


class EmailHandler(Handler):
    def __init__(self, context: HandlerContext) -> None:
        super().__init__(context)
        smtp = context.settings.smtp
        self._mailer = Mailer(smtp)
        self._pace = TokenBucket(smtp.rate_per_second, burst=max(1, int(smtp.rate_per_second)))

    def close(self) -> None:
        self._mailer.close()

    async def process(self, event: Event) -> Processed:
        mid = message_id(event.event_id)
        if await asyncio.to_thread(self._committed, event.event_id):
            return Processed({"message_id": mid, "sent_by": "an earlier attempt"})
        await asyncio.sleep(self._pace.reserve())
        reply = await asyncio.to_thread(
            self._mailer.send,
            self._message(event, mid),
            lambda: self._commit(event.event_id, mid),
            lambda: self._uncommit(event.event_id),
        )
        return Processed({"message_id": mid, "recipient": event.value["recipient"], "smtp": reply})

    def _message(self, event: Event, mid: str) -> EmailMessage:
        message = EmailMessage()
        message["From"] = self.context.settings.smtp.sender
        message["To"] = event.value["recipient"]
        message["Subject"] = event.value["subject"]
        message["Message-ID"] = mid
        message["X-Conveyor-Event-Id"] = event.event_id
        message.set_content(event.value["body"])
        return message

    def _committed(self, event_id: str) -> bool:
        with self.context.store.engine.connect() as conn:
            found = conn.execute(
                select(deliveries.c.event_id).where(deliveries.c.event_id == event_id)
            ).first()
        return found is not None

    def _commit(self, event_id: str, mid: str) -> bool:
        # Refused (JobNotRunningError) once the job was cancelled: the dot is never sent.
        with self.context.store.engine.begin() as conn:
            return commit_delivery(conn, event_id, mid, datetime.now(UTC))

    def _uncommit(self, event_id: str) -> None:
        with self.context.store.engine.begin() as conn:
            conn.execute(delete(deliveries).where(deliveries.c.event_id == event_id))
