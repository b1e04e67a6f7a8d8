"""One client socket on a draft: its state machine and its outbound path.

Outbound has one writer and a bound. With the ``tongpin.raw`` extension the
writer is the transport itself: frames are written as they come and the
transport's buffer is the queue; past ``max_outbound`` buffered bytes the
client is closed with 4008 (slow consumer). Without it (any other ASGI
server) a bounded deque is drained by one writer task through ASGI ``send``.
Either way a slow client never blocks the room or grows memory without end.
"""

from __future__ import annotations

import asyncio
import contextlib
import enum
import logging
from collections import deque
from typing import TYPE_CHECKING

from starlette.websockets import WebSocket

from hub.ws_protocol import RAW_EXTENSION, RawSocket
from rooms.codec import stored_message
from rooms.draft import Outgoing
from schema.close_codes import CloseCode

if TYPE_CHECKING:
    from hub.state import Counters

__all__ = ["ConnState", "Connection"]

log = logging.getLogger("tongpin.connection")


class ConnState(enum.Enum):
    JOINING = "joining"  # accepted, waiting for the draft to load
    OPEN = "open"
    CLOSING = "closing"
    CLOSED = "closed"


_NEXT = {
    ConnState.JOINING: {ConnState.OPEN, ConnState.CLOSING, ConnState.CLOSED},
    ConnState.OPEN: {ConnState.CLOSING, ConnState.CLOSED},
    ConnState.CLOSING: {ConnState.CLOSED},
    ConnState.CLOSED: set(),
}


class Connection:
    __slots__ = (
        "__weakref__",
        "_queue",
        "_queued_bytes",
        "_ready",
        "_writer",
        "close_code",
        "counters",
        "max_outbound",
        "raw",
        "read_only",
        "state",
        "stored",
        "wants_stored",
        "ws",
    )

    def __init__(
        self,
        ws: WebSocket,
        counters: Counters,
        *,
        max_outbound: int,
        read_only: bool = False,
        wants_stored: bool = False,
        use_raw: bool = True,
    ) -> None:
        self.ws = ws
        ext = ws.scope.get("extensions") or {}
        raw = ext.get(RAW_EXTENSION, {}).get("socket") if use_raw else None
        self.raw: RawSocket | None = raw
        self.counters = counters
        self.read_only = read_only
        self.wants_stored = wants_stored
        self.stored = 0
        self.state = ConnState.JOINING
        self.max_outbound = max_outbound
        self.close_code: int | None = None
        self._queue: deque[bytes] | None = None
        self._queued_bytes = 0
        self._ready: asyncio.Event | None = None
        self._writer: asyncio.Task[None] | None = None
        if raw is None:
            self._queue = deque()
            self._ready = asyncio.Event()
            self._writer = asyncio.get_running_loop().create_task(self._drain(), name="ws writer")

    def _move(self, to: ConnState) -> None:
        if to not in _NEXT[self.state]:
            raise RuntimeError(f"connection cannot go from {self.state.value} to {to.value}")
        self.state = to

    def opened(self) -> None:
        self._move(ConnState.OPEN)

    # -- outbound -------------------------------------------------------

    def send(self, out: Outgoing) -> None:
        if self.state is ConnState.CLOSING or self.state is ConnState.CLOSED:
            return
        raw = self.raw
        if raw is not None:
            if raw.buffered() > self.max_outbound:
                self._overflow()
                return
            if raw.write(out.wire):
                self.counters.deliveries_total += 1
            return
        assert self._queue is not None and self._ready is not None
        if self._queued_bytes > self.max_outbound:
            self._overflow()
            return
        self._queue.append(out.payload)
        self._queued_bytes += len(out.payload)
        self._ready.set()

    async def _drain(self) -> None:
        assert self._queue is not None and self._ready is not None
        queue, ready = self._queue, self._ready
        while True:
            await ready.wait()
            ready.clear()
            while queue:
                payload = queue.popleft()
                self._queued_bytes -= len(payload)
                try:
                    await self.ws.send_bytes(payload)
                except (RuntimeError, OSError):
                    return
                self.counters.deliveries_total += 1

    def _overflow(self) -> None:
        self.counters.overflows_total += 1
        self.close_soon(CloseCode.SLOW_CONSUMER, "outbound queue overflowed; reconnect to resync")

    def on_stored(self, count: int) -> None:
        self.stored += count
        if self.wants_stored:
            self.send(Outgoing(stored_message(self.stored)))

    # -- closing --------------------------------------------------------

    def close_soon(self, code: int, reason: str) -> None:
        """Close from synchronous code (a broadcast): the close runs as a task."""
        if self.state is ConnState.CLOSING or self.state is ConnState.CLOSED:
            return
        self._move(ConnState.CLOSING)
        self.close_code = code
        asyncio.get_running_loop().create_task(self._send_close(code, reason), name="ws close")

    async def close(self, code: int, reason: str) -> None:
        if self.state is ConnState.CLOSING or self.state is ConnState.CLOSED:
            return
        self._move(ConnState.CLOSING)
        self.close_code = code
        await self._send_close(code, reason)

    async def _send_close(self, code: int, reason: str) -> None:
        with contextlib.suppress(RuntimeError, OSError):  # the peer may be gone already
            await self.ws.close(code, reason)

    def closed(self) -> None:
        if self.state is not ConnState.CLOSED:
            self._move(ConnState.CLOSED)
        if self._writer is not None:
            self._writer.cancel()
            self._writer = None
