"""One client socket on a draft: its state machine, inbound and outbound paths.

Inbound: with the ``tongpin.raw`` extension the connection *detaches* from
its ASGI task once joined: uvicorn calls ``on_message`` for each frame, in
order, and ``on_disconnect`` when the socket goes (see ``hub/ws_protocol``).
Otherwise (any other ASGI server) ``run`` reads frames in a loop.

Outbound has one writer and a bound. With the extension the writer is the
transport itself: frames are written as they come and the transport buffer
is the queue; past ``max_outbound`` buffered bytes the client is closed with
4008 (slow consumer). Without it a bounded deque is drained by one writer
task through ASGI ``send``. Either way a slow client never blocks the room or
grows memory without end.
"""

from __future__ import annotations

import asyncio
import contextlib
import enum
import logging
from collections import deque
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

from starlette.websockets import WebSocket

from hub.ws_protocol import RAW_EXTENSION, RawSocket
from rooms.codec import stored_message
from rooms.draft import Outgoing
from rooms.errors import Closing
from schema.close_codes import CloseCode

if TYPE_CHECKING:
    from hub.state import Counters

__all__ = ["ConnState", "Connection"]

log = logging.getLogger("tongpin.connection")


class ConnState(enum.Enum):
    JOINING = "joining"  # accepted, waiting for the draft to load
    OPEN = "open"
    CLOSING = "closing"  # close sent, waiting for the socket to go
    CLOSED = "closed"


_NEXT = {
    ConnState.JOINING: {ConnState.OPEN, ConnState.CLOSING, ConnState.CLOSED},
    ConnState.OPEN: {ConnState.CLOSING, ConnState.CLOSED},
    ConnState.CLOSING: {ConnState.CLOSED},
    ConnState.CLOSED: set(),
}

FrameHandler = Callable[["Connection", bytes], None]


class Connection:
    __slots__ = (
        "__weakref__",
        "_on_frame",
        "_on_gone",
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
        self.ws: WebSocket | None = ws
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
        self._on_frame: FrameHandler | None = None
        self._on_gone: Callable[[Connection], None] | None = None
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

    # -- inbound --------------------------------------------------------

    async def run(self, on_frame: FrameHandler, on_gone: Callable[[Connection], None]) -> None:
        """Serve frames until the socket goes; ``on_gone`` runs exactly once.

        With the raw extension this returns at once and the socket lives on
        detached; otherwise it reads until the client disconnects.
        """
        self._on_frame = on_frame
        self._on_gone = on_gone
        if self.state is ConnState.JOINING:
            self._move(ConnState.OPEN)
        if self.raw is not None:
            self.raw.detach(self)
            self.ws = None  # the ASGI side is done with; keep nothing of it
            return
        assert self.ws is not None
        try:
            while True:
                message = await self.ws.receive()
                if message["type"] == "websocket.disconnect":
                    break
                self.on_message(message)
        finally:
            self.on_disconnect(1005)

    def on_message(self, message: Mapping[str, Any]) -> None:
        if self.state is not ConnState.OPEN or self._on_frame is None:
            return  # closing: the rest of what the client sent is dropped
        data = message.get("bytes")
        try:
            if data is None:
                raise Closing(CloseCode.BAD_FRAME, "text frames are not part of this protocol")
            self._on_frame(self, data)
        except Closing as closing:
            self.counters.bad_input_total += 1
            log.info("closing a client: %s", closing)
            self.close_soon(closing.code, closing.reason)
        except Exception:
            log.exception("unexpected error handling a frame")
            self.close_soon(CloseCode.INTERNAL_ERROR, "internal error")

    def on_disconnect(self, code: int) -> None:
        if self.state is ConnState.CLOSED:
            return
        self._move(ConnState.CLOSED)
        if self._writer is not None:
            self._writer.cancel()
            self._writer = None
        on_gone, self._on_gone, self._on_frame = self._on_gone, None, None
        if on_gone is not None:
            on_gone(self)

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
                if self.ws is None:
                    return
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

    def close_soon(self, code: int, reason: str, *, drop_input: bool = False) -> None:
        """Close from synchronous code: at once when raw, else as a task.

        ``drop_input`` (raw only): read nothing more from this socket, for a
        client that floods: the rest of its flood is never parsed.
        """
        if self.state is ConnState.CLOSING or self.state is ConnState.CLOSED:
            return
        self._move(ConnState.CLOSING)
        self.close_code = code
        if self.raw is not None:
            self.raw.close(code, reason, drop_input=drop_input)
        else:
            asyncio.get_running_loop().create_task(self._send_close(code, reason), name="ws close")

    async def close(self, code: int, reason: str) -> None:
        if self.state is ConnState.CLOSING or self.state is ConnState.CLOSED:
            return
        self._move(ConnState.CLOSING)
        self.close_code = code
        await self._send_close(code, reason)

    async def _send_close(self, code: int, reason: str) -> None:
        if self.raw is not None:
            self.raw.close(code, reason)
            return
        if self.ws is not None:
            with contextlib.suppress(RuntimeError, OSError):  # the peer may be gone already
                await self.ws.close(code, reason)
