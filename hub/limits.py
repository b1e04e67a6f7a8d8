"""Limits that keep one client from hurting the others.

- ``TokenBucket``: a rate with a burst. Used per connection and per user for
  messages and bytes, and per user for connects (see ``hub.sessions``).
- ``AuthGuard``: what a socket may do before it has authenticated (for
  dialects that authenticate in-band, after the upgrade): a deadline that its
  own traffic cannot extend, a byte cap and a message cap. The y-websocket
  endpoint checks the token before it accepts, so it never has such a socket.
- ``DraftQuota``: how many drafts one connection may hold open (dialects that
  multiplex documents on one socket; a y-websocket socket holds one).
- ``RefusalLimit``: client addresses whose websocket upgrades keep being
  refused (bad token, disallowed Origin) are answered 429 for a cooldown,
  before any token is checked (``hub.gate``).

Each refusal after an accept is a ``rooms.errors.Closing`` carrying its close code.
"""

from __future__ import annotations

import asyncio
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from rooms.errors import Closing
from schema.close_codes import CloseCode

__all__ = ["BURST_SECONDS", "AuthGuard", "DraftQuota", "Limits", "RefusalLimit", "TokenBucket"]

BURST_SECONDS = 4.0  # a bucket holds this many seconds of its rate


class TokenBucket:
    """``rate`` tokens per second, at most ``burst`` saved up; rate 0 means no limit."""

    __slots__ = ("burst", "rate", "stamp", "tokens")

    def __init__(self, rate: float, burst: float, *, now: float | None = None) -> None:
        self.rate = rate
        self.burst = burst
        self.tokens = burst
        self.stamp = time.monotonic() if now is None else now

    def take(self, cost: float, now: float) -> bool:
        """Spend ``cost`` tokens if there are enough; False (nothing spent) if not."""
        if self.rate <= 0:
            return True
        tokens = self.tokens + (now - self.stamp) * self.rate
        if tokens > self.burst:
            tokens = self.burst
        self.stamp = now
        if tokens < cost:
            self.tokens = tokens
            return False
        self.tokens = tokens - cost
        return True

    def full(self, now: float) -> bool:
        """Refilled to the brim: forgetting this bucket would change nothing."""
        return self.rate <= 0 or self.tokens + (now - self.stamp) * self.rate >= self.burst


@dataclass(frozen=True, slots=True)
class Limits:
    """Per-connection and per-user rates (per second; 0 = no limit) and counts."""

    msg_rate: float = 100.0
    byte_rate: float = 1024 * 1024
    user_msg_rate: float = 300.0
    user_byte_rate: float = 4 * 1024 * 1024
    connect_rate: float = 10.0
    max_connections_per_user: int = 50
    max_frame: int = 8 * 1024 * 1024

    def byte_burst(self, rate: float) -> float:
        # One frame of the largest size must always be able to pass.
        return max(rate * BURST_SECONDS, float(self.max_frame))


class AuthGuard:
    """Bounds a socket until it authenticates: time, bytes and messages.

    The deadline runs from construction and nothing the client sends extends
    it. ``receive`` wraps the socket's own receive; ``charge`` counts a frame
    that arrived some other way. Both raise ``Closing``: 4408 once the
    deadline has passed, 4413 past the byte or message cap.
    """

    __slots__ = ("bytes", "deadline", "max_bytes", "max_messages", "messages")

    def __init__(self, *, timeout: float, max_bytes: int, max_messages: int = 16) -> None:
        self.deadline = time.monotonic() + timeout
        self.max_bytes = max_bytes
        self.max_messages = max_messages
        self.bytes = 0
        self.messages = 0

    def charge(self, size: int) -> None:
        if time.monotonic() > self.deadline:
            raise Closing(CloseCode.AUTH_TIMEOUT, "authenticate first, in time")
        self.bytes += size
        self.messages += 1
        if self.bytes > self.max_bytes or self.messages > self.max_messages:
            raise Closing(CloseCode.AUTH_TOO_LARGE, "too much traffic before authenticating")

    async def receive(self, receive: Callable[[], Awaitable[bytes]]) -> bytes:
        remaining = self.deadline - time.monotonic()
        if remaining <= 0:
            raise Closing(CloseCode.AUTH_TIMEOUT, "authenticate first, in time")
        try:
            async with asyncio.timeout(remaining):
                data = await receive()
        except TimeoutError:
            raise Closing(CloseCode.AUTH_TIMEOUT, "authenticate first, in time") from None
        self.charge(len(data))
        return data


class DraftQuota:
    """Drafts one connection holds open; ``open`` past ``limit`` raises 4431."""

    __slots__ = ("limit", "names")

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.names: set[str] = set()

    def open(self, name: str) -> None:
        if name not in self.names and len(self.names) >= self.limit:
            raise Closing(CloseCode.TOO_MANY_DRAFTS, f"one connection may hold at most {self.limit} drafts")
        self.names.add(name)

    def close(self, name: str) -> None:
        self.names.discard(name)


class _Refusals:
    __slots__ = ("blocked_until", "count", "since")

    def __init__(self, now: float) -> None:
        self.since = now
        self.count = 0
        self.blocked_until = 0.0

    def expires(self, cooldown: float) -> float:
        """When this record no longer matters: its block ends, or its window."""
        return self.blocked_until or self.since + cooldown


class RefusalLimit:
    """Refused upgrades per client address: ``limit`` within ``cooldown`` seconds blocks it for ``cooldown``.

    A refused upgrade costs the hub an HMAC and an audit row; a client that
    guesses tokens, or a misconfigured one in a reconnect loop, could make it
    pay that without end. ``refused`` counts an address's refusals in a
    window of ``cooldown`` seconds from its first; the ``limit``-th blocks the
    address for ``cooldown`` seconds, during which ``blocked`` says so and the
    gate answers 429 without looking at the token. Attempts while blocked do
    not extend the block, so a client that stops failing gets back in on time;
    one that keeps failing is blocked again after ``limit`` more refusals.
    Other addresses are never affected. ``limit`` 0 turns it off.

    Memory is bounded: addresses are kept in the order they were last
    refused, those idle past their window are forgotten as new ones come, and
    past ``max_addresses`` the oldest is forgotten.
    """

    __slots__ = ("_addresses", "cooldown", "limit", "max_addresses")

    def __init__(self, limit: int, cooldown: float, *, max_addresses: int = 100_000) -> None:
        self.limit = limit
        self.cooldown = cooldown
        self.max_addresses = max_addresses
        self._addresses: OrderedDict[str, _Refusals] = OrderedDict()

    def __len__(self) -> int:
        return len(self._addresses)

    def blocked(self, address: str | None, now: float | None = None) -> float:
        """Seconds ``address`` stays blocked (0.0: not blocked)."""
        if self.limit <= 0 or address is None:
            return 0.0
        entry = self._addresses.get(address)
        if entry is None or not entry.blocked_until:
            return 0.0
        now = time.monotonic() if now is None else now
        if now < entry.blocked_until:
            return entry.blocked_until - now
        del self._addresses[address]  # the block is over: a fresh start
        return 0.0

    def refused(self, address: str | None, now: float | None = None) -> bool:
        """Count one refused upgrade; True when it blocks ``address``."""
        if self.limit <= 0 or address is None:
            return False
        now = time.monotonic() if now is None else now
        entry = self._addresses.pop(address, None)
        if entry is None or now >= entry.expires(self.cooldown):
            entry = _Refusals(now)
        self._addresses[address] = entry  # newest last
        self._forget_idle(now)
        if entry.blocked_until:
            return False
        entry.count += 1
        if entry.count < self.limit:
            return False
        entry.blocked_until = now + self.cooldown
        return True

    def _forget_idle(self, now: float, most: int = 2) -> None:
        """Forget the oldest addresses if over the cap, or if idle (a few per call: constant cost)."""
        addresses = self._addresses
        while len(addresses) > self.max_addresses:
            addresses.popitem(last=False)
        for _ in range(most):
            oldest = next(iter(addresses.values()))
            if now < oldest.expires(self.cooldown):
                return
            addresses.popitem(last=False)
