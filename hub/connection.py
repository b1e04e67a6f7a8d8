"""One client socket on a draft: its frames in, its bounded outbound path.

The socket's life (state, inbound loop, close) is ``hub.client_socket``'s.
Outbound has one writer and a bound. With the ``tongpin.raw`` extension the
writer is the transport itself: frames are written as they come and the
transport buffer is the queue; past ``max_outbound`` buffered bytes the
client is closed with 4008 (slow consumer). Without it a bounded deque is
drained by one writer task through ASGI ``send``. Either way a slow client
never blocks the room or grows memory without end.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

from starlette.websockets import WebSocket

from hub.client_socket import ClientSocket, SocketState
from rooms.codec import stored_message
from rooms.draft import Outgoing
from rooms.errors import Closing
from schema.close_codes import CloseCode

if TYPE_CHECKING:
    from hub.state import Counters

__all__ = ["ConnState", "Connection"]

log = logging.getLogger("tongpin.connection")

ConnState = SocketState  # the name this module has always exported

FrameHandler = Callable[["Connection", bytes], None]


class Connection(ClientSocket):
    __slots__ = (
        "_on_frame",
        "_on_gone",
        "counters",
        "read_only",
        "stored",
        "wants_stored",
    )

    KIND = "connection"

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
        self.counters = counters
        self.read_only = read_only
        self.wants_stored = wants_stored
        self.stored = 0
        self._on_frame: FrameHandler | None = None
        self._on_gone: Callable[[Connection], None] | None = None
        super().__init__(ws, max_outbound=max_outbound, use_raw=use_raw, state=SocketState.JOINING)

    # -- inbound --------------------------------------------------------

    async def run(self, on_frame: FrameHandler, on_gone: Callable[[Connection], None]) -> None:
        """Serve frames until the socket goes; ``on_gone`` runs exactly once.

        With the raw extension this returns at once and the socket lives on
        detached; otherwise it reads until the client disconnects.
        """
        self._on_frame = on_frame
        self._on_gone = on_gone
        if self.state is SocketState.JOINING:
            self._move(SocketState.OPEN)
        await self._serve()

    def on_message(self, message: Mapping[str, Any]) -> None:
        if self.state is not SocketState.OPEN or self._on_frame is None:
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

    def _ended(self) -> None:
        on_gone, self._on_gone, self._on_frame = self._on_gone, None, None
        if on_gone is not None:
            on_gone(self)

    # -- outbound -------------------------------------------------------

    def send(self, out: Outgoing) -> None:
        if self.state is SocketState.CLOSING or self.state is SocketState.CLOSED:
            return
        raw = self.raw
        if raw is not None:
            if raw.buffered() > self.max_outbound:
                self._overflow()
                return
            if raw.write(out.wire):
                self.counters.deliveries_total += 1
            return
        if self._queued_bytes > self.max_outbound:
            self._overflow()
            return
        self._enqueue(out.payload)

    async def _write(self, ws: WebSocket, payload: bytes) -> None:
        await ws.send_bytes(payload)
        self.counters.deliveries_total += 1

    def _overflow(self) -> None:
        self.counters.overflows_total += 1
        self.close_soon(CloseCode.SLOW_CONSUMER, "outbound queue overflowed; reconnect to resync")

    def on_stored(self, count: int) -> None:
        self.stored += count
        if self.wants_stored:
            self.send(Outgoing(stored_message(self.stored)))

    # -- closing --------------------------------------------------------

    async def close(self, code: int, reason: str) -> None:
        if self.state is SocketState.CLOSING or self.state is SocketState.CLOSED:
            return
        self._move(SocketState.CLOSING)
        self.close_code = code
        await self._send_close(code, reason)
