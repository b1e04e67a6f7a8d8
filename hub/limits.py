"""Limits that keep one client from hurting the others.

- ``TokenBucket``: a rate with a burst. Used per connection and per user for
  messages and bytes, and per user for connects (see ``hub.sessions``).
- ``AuthGuard``: what a socket may do before it has authenticated (for
  dialects that authenticate in-band, after the upgrade): a deadline that its
  own traffic cannot extend, a byte cap and a message cap. The y-websocket
  endpoint checks the token before it accepts, so it never has such a socket.
- ``DraftQuota``: how many drafts one connection may hold open (dialects that
  multiplex documents on one socket; a y-websocket socket holds one).

Each refusal is a ``rooms.errors.Closing`` carrying its close code.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from rooms.errors import Closing
from schema.close_codes import CloseCode

__all__ = ["BURST_SECONDS", "AuthGuard", "DraftQuota", "Limits", "TokenBucket"]

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
