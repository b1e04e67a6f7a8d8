"""What every hub-side client socket shares: state, inbound loop, ASGI writer, close.

A document ``Connection`` (``hub.connection``) and a ``/live`` socket
(``hub.live_socket``) differ in what they do with a frame and in what they
send, not in how a socket lives:

- **State**: ``SocketState``, moved only along ``_NEXT``; an illegal move
  raises ``RuntimeError``.
- **Inbound**: with the ``tongpin.raw`` extension the socket *detaches* from
  its ASGI task (uvicorn calls ``on_message`` for each frame, in order, and
  ``on_disconnect`` when the socket goes; see ``hub.ws_protocol``).
  Otherwise (any other ASGI server) ``_serve`` reads frames in a loop.
- **Outbound without the extension**: a deque drained by one writer task
  through ASGI ``send``; ``_queued_bytes`` is what the subclass bounds. With
  the extension the transport's buffer is the queue and the subclass writes
  to ``raw`` itself (its hot path stays its own).
- **Closing**: ``close_soon`` from synchronous code, once; ``on_disconnect``
  runs the subclass's ``_ended`` exactly once.
"""

from __future__ import annotations

import asyncio
import contextlib
import enum
from collections import deque
from collections.abc import Mapping
from typing import Any

from starlette.websockets import WebSocket

from hub.ws_protocol import RAW_EXTENSION, RawSocket

__all__ = ["ClientSocket", "SocketState"]


class SocketState(enum.Enum):
    JOINING = "joining"  # accepted, waiting for its draft to load (document sockets only)
    OPEN = "open"
    CLOSING = "closing"  # close sent, waiting for the socket to go
    CLOSED = "closed"


_NEXT = {
    SocketState.JOINING: {SocketState.OPEN, SocketState.CLOSING, SocketState.CLOSED},
    SocketState.OPEN: {SocketState.CLOSING, SocketState.CLOSED},
    SocketState.CLOSING: {SocketState.CLOSED},
    SocketState.CLOSED: set(),
}


class ClientSocket:
    """The shared half of a client socket; subclasses handle frames and send."""

    __slots__ = (
        "__weakref__",
        "_queue",
        "_queued_bytes",
        "_ready",
        "_writer",
        "close_code",
        "max_outbound",
        "raw",
        "state",
        "ws",
    )

    KIND = "socket"  # names its tasks and its errors

    def __init__(self, ws: WebSocket, *, max_outbound: int, use_raw: bool, state: SocketState) -> None:
        self.ws: WebSocket | None = ws
        ext = ws.scope.get("extensions") or {}
        raw = ext.get(RAW_EXTENSION, {}).get("socket") if use_raw else None
        self.raw: RawSocket | None = raw
        self.state = state
        self.max_outbound = max_outbound
        self.close_code: int | None = None
        self._queue: deque[bytes] | None = None
        self._queued_bytes = 0
        self._ready: asyncio.Event | None = None
        self._writer: asyncio.Task[None] | None = None
        if raw is None:
            self._queue = deque()
            self._ready = asyncio.Event()
            self._writer = asyncio.get_running_loop().create_task(self._drain(), name=f"{self.KIND} writer")

    def _move(self, to: SocketState) -> None:
        if to not in _NEXT[self.state]:
            raise RuntimeError(f"{self.KIND} cannot go from {self.state.value} to {to.value}")
        self.state = to

    # -- inbound --------------------------------------------------------

    def on_message(self, message: Mapping[str, Any]) -> None:
        raise NotImplementedError

    async def _serve(self) -> None:
        """Detach (raw) and return at once, or read frames until the client goes."""
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

    def on_disconnect(self, code: int) -> None:
        if self.state is SocketState.CLOSED:
            return
        self._move(SocketState.CLOSED)
        if self._writer is not None:
            self._writer.cancel()
            self._writer = None
        self._ended()

    def _ended(self) -> None:
        """The socket is gone (runs once): release what the subclass holds."""
        raise NotImplementedError

    # -- outbound without the raw extension -------------------------------

    def _enqueue(self, payload: bytes) -> None:
        assert self._queue is not None and self._ready is not None
        self._queue.append(payload)
        self._queued_bytes += len(payload)
        self._ready.set()

    async def _write(self, ws: WebSocket, payload: bytes) -> None:
        """Send one queued payload through ASGI ``send``."""
        raise NotImplementedError

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
                    await self._write(self.ws, payload)
                except (RuntimeError, OSError):
                    return

    # -- closing --------------------------------------------------------

    def close_soon(self, code: int, reason: str, *, drop_input: bool = False) -> None:
        """Close from synchronous code: at once when raw, else as a task.

        ``drop_input`` (raw only): read nothing more from this socket, for a
        client that floods: the rest of its flood is never parsed.
        ``hub.sessions`` calls this on every kind of socket.
        """
        if self.state is SocketState.CLOSING or self.state is SocketState.CLOSED:
            return
        self._move(SocketState.CLOSING)
        self.close_code = code
        if self.raw is not None:
            self.raw.close(code, reason, drop_input=drop_input)
        else:
            asyncio.get_running_loop().create_task(self._send_close(code, reason), name=f"{self.KIND} close")

    async def _send_close(self, code: int, reason: str) -> None:
        if self.raw is not None:
            self.raw.close(code, reason)
            return
        if self.ws is not None:
            with contextlib.suppress(RuntimeError, OSError):  # the peer may be gone already
                await self.ws.close(code, reason)
