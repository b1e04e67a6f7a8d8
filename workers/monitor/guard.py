"""Keeping feed fetches off internal networks (SSRF protection).

Feed URLs come from users of the API, so a fetch must not become a way to
reach what only the server can reach: its own loopback services, the
private network it sits in, a cloud's metadata endpoint (169.254.169.254).
By default the monitor connects only to globally routable unicast
addresses; it refuses loopback, private (RFC 1918, ``fc00::/7``),
link-local (``169.254.0.0/16``, ``fe80::/10``), unspecified, multicast,
reserved and other non-global addresses (``refusal`` says which), also when
an IPv6 address embeds an IPv4 one (``::ffff:127.0.0.1``).

The check is made on the address actually connected to, at connect time,
in two places of the client's connector:

- ``GuardedResolver`` resolves a host name and drops refused addresses; a
  name that resolves to refused addresses only (``localhost``, a DNS record
  pointing inside) fails with ``Refused``;
- ``Guard.socket``, the connector's socket factory, runs for every
  connection attempt, to a literal IP or to a resolved name, the first URL
  or a redirect's target, and refuses before the socket connects.

``TONGPIN_MONITOR_ALLOW_PRIVATE`` turns both off, for deployments whose
feeds are on their own network (and for tests serving feeds on loopback).
"""

from __future__ import annotations

import ipaddress
import re
import socket
from collections.abc import Callable
from typing import Any

import aiohttp
from aiohttp.abc import AbstractResolver, ResolveResult

__all__ = ["Guard", "GuardedResolver", "Refused", "client_session", "literal_address", "refusal"]

Address = ipaddress.IPv4Address | ipaddress.IPv6Address

_LEGACY_IPV4 = re.compile(r"^(0x[0-9a-f]+|[0-9]+)(\.(0x[0-9a-f]+|[0-9]+)){0,3}$", re.IGNORECASE)


class Refused(OSError):
    """A connection to an address the monitor must not reach (the message says which and why)."""


def refusal(address: Address) -> str | None:
    """Why ``address`` may not be fetched from, or None if it may."""
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    for kind, refused in (
        ("a loopback", address.is_loopback),
        ("an unspecified", address.is_unspecified),
        ("a link-local", address.is_link_local),
        ("a multicast", address.is_multicast),
        ("a private", address.is_private),
        ("a reserved", address.is_reserved),
        ("a non-global", not address.is_global),
    ):
        if refused:
            return f"{address} is {kind} address"
    return None


def literal_address(host: str) -> Address | None:
    """The IP address ``host`` spells, also in legacy IPv4 forms (``127.1``, ``0x7f.1``); None for a name."""
    host = host.strip("[]")
    try:
        return ipaddress.ip_address(host)
    except ValueError:
        pass
    if _LEGACY_IPV4.match(host):
        try:
            return ipaddress.IPv4Address(socket.inet_aton(host))
        except OSError:
            return None
    return None


def _ip(text: str) -> Address:
    return ipaddress.ip_address(text.split("%", 1)[0])  # without an IPv6 zone


class Guard:
    """The connection checks of one client; ``refuse`` says why an address is refused (default ``refusal``)."""

    def __init__(self, refuse: Callable[[Address], str | None] = refusal) -> None:
        self.refuse = refuse

    def check(self, address: str, what: str) -> None:
        """Raise ``Refused`` if ``address`` (the one ``what`` stands for) is refused."""
        reason = self.refuse(_ip(address))
        if reason is not None:
            raise Refused(f"refused to connect to {what}: {reason} (TONGPIN_MONITOR_ALLOW_PRIVATE is off)")

    def socket(self, addr_info: tuple[Any, ...]) -> socket.socket:
        """The connector's socket factory: a socket for ``addr_info``, unless its address is refused."""
        family, kind, proto, _, sockaddr = addr_info
        self.check(str(sockaddr[0]), str(sockaddr[0]))
        return socket.socket(family=family, type=kind, proto=proto)

    def connector(self) -> aiohttp.TCPConnector:
        return aiohttp.TCPConnector(resolver=GuardedResolver(self), socket_factory=self.socket)


class GuardedResolver(AbstractResolver):
    """Resolves with aiohttp's default resolver, keeping only the addresses the guard allows."""

    def __init__(self, guard: Guard) -> None:
        self._guard = guard
        self._inner = aiohttp.DefaultResolver()

    async def resolve(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
    ) -> list[ResolveResult]:
        found = await self._inner.resolve(host, port, family)
        allowed = [r for r in found if self._guard.refuse(_ip(r["host"])) is None]
        if not allowed:
            self._guard.check(found[0]["host"], f"{host} ({', '.join(r['host'] for r in found)})")
        return allowed

    async def close(self) -> None:
        await self._inner.close()


def client_session(*, allow_private: bool, guard: Guard | None = None) -> aiohttp.ClientSession:
    """An HTTP client for feed fetches, its connections guarded unless ``allow_private``."""
    if allow_private:
        return aiohttp.ClientSession()
    return aiohttp.ClientSession(connector=(guard or Guard()).connector())
