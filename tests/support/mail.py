"""A mail server's fault that an operator can fix: refusing every recipient for a while."""

from __future__ import annotations

from typing import ClassVar

from aiosmtpd.handlers import Mailbox
from aiosmtpd.smtp import SMTP, Envelope, Session


class FlakyMailbox(Mailbox):
    """Refuses every recipient for good (550) while ``broken``: the fault to fix."""

    broken: ClassVar[bool] = True

    async def handle_RCPT(  # noqa: N802 - aiosmtpd's hook name
        self,
        server: SMTP,
        session: Session,
        envelope: Envelope,
        address: str,
        rcpt_options: list[str],
    ) -> str:
        if self.broken:
            return "550 5.1.1 mailbox unavailable"
        envelope.rcpt_tos.append(address)
        return "250 OK"
