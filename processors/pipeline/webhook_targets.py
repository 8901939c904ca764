"""Where a webhook may go: the SSRF guard.

A callback URL is the client's to choose (within its key's ``callback_hosts``), and a
stream's is the operator's; either could name, or resolve to, an address inside the
operator's own network (the cloud's metadata service at 169.254.169.254, a database on
loopback). Unless ``webhooks.allow_private_targets`` is on, a delivery goes only to global
addresses: every address a host resolves to is checked, and the connection is made to the
checked addresses themselves (the resolver below is the connector's), so a name that
resolves to a public address for the check and a private one for the connection cannot
get through.
"""

from __future__ import annotations

import ipaddress
import socket

from aiohttp.abc import AbstractResolver, ResolveResult
from aiohttp.resolver import ThreadedResolver

from conveyor.processors.exceptions import PoisonError

__all__ = ["GuardedResolver", "TargetRefusedError", "address_refusal", "check_literal"]

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


class TargetRefusedError(PoisonError):
    """The webhook's target is an address the workers may not call: dead-lettered at once."""


def address_refusal(address: IPAddress) -> str | None:
    """Why a webhook may not go to ``address`` (``loopback``, ``private``, ...), or None."""
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped  # ::ffff:127.0.0.1 is loopback too
    for reason, flagged in (
        ("unspecified", address.is_unspecified),
        ("loopback", address.is_loopback),
        ("link-local", address.is_link_local),
        ("multicast", address.is_multicast),
        ("reserved", address.is_reserved),
        ("private", address.is_private),
    ):
        if flagged:
            return reason
    # Shared address space (100.64.0.0/10), documentation ranges and the like.
    return None if address.is_global else "not global"


def check_literal(host: str) -> None:
    """Refuse ``host`` if it is an IP address that may not be called (names are checked by
    :class:`GuardedResolver` as they resolve; the connector never resolves a literal)."""
    try:
        address = ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        return
    reason = address_refusal(address)
    if reason is not None:
        raise TargetRefusedError(f"{host} is a {reason} address")


class GuardedResolver(AbstractResolver):
    """Resolves as aiohttp's default resolver does, and refuses a host any of whose
    addresses may not be called."""

    def __init__(self) -> None:
        self._inner = ThreadedResolver()

    async def resolve(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
    ) -> list[ResolveResult]:
        found = await self._inner.resolve(host, port, family)
        for result in found:
            reason = address_refusal(ipaddress.ip_address(result["host"]))
            if reason is not None:
                raise TargetRefusedError(f"{host} resolves to {result['host']}, a {reason} address")
        return found

    async def close(self) -> None:
        await self._inner.close()
