"""One ``WS /live`` socket: its state machine and its bounded outbound path.

As ``hub.connection`` for documents: with the ``tongpin.raw`` extension the
socket detaches from its ASGI task once admitted (inbound frames arrive by
plain calls, in order) and frames go straight to the transport, whose buffer
is the queue. Without it a bounded deque is drained by one writer task
through ASGI ``send``.

Two kinds of outbound frames:
- **Discrete** (events, answers): never dropped. Past ``max_outbound``
  buffered bytes the client is closed with 4009 (``BEHIND``): it reconnects
  and resubscribes from its last positions, so it loses nothing.
- **Snapshot-like** (presence): while the client is behind (more than
  ``low_water`` buffered) they are merged, one pending frame per channel,
  and sent when the buffer has drained; a slow client costs one frame per
  room, however many changes it missed.
"""

from __future__ import annotations

import asyncio
import contextlib
import enum
import logging
from collections import deque
from collections.abc import Callable, Mapping
from typing import Any

from starlette.websockets import WebSocket

from hub.ws_protocol import RAW_EXTENSION, RawSocket
from rooms.presence import PresenceUpdate, merge_updates
from schema.close_codes import CloseCode

__all__ = ["LiveSocket", "SocketState"]

log = logging.getLogger("tongpin.live")

MERGE_RETRY = 0.05  # seconds between looks at a slow client's buffer


class SocketState(enum.Enum):
    OPEN = "open"
    CLOSING = "closing"  # close sent, waiting for the socket to go
    CLOSED = "closed"


_NEXT = {
    SocketState.OPEN: {SocketState.CLOSING, SocketState.CLOSED},
    SocketState.CLOSING: {SocketState.CLOSED},
    SocketState.CLOSED: set(),
}

MessageHandler = Callable[[str | None, bytes | None], None]


class LiveSocket:
    __slots__ = (
        "__weakref__",
        "_merge_timer",
        "_merged",
        "_on_gone",
        "_on_message",
        "_queue",
        "_queued_bytes",
        "_ready",
        "_writer",
        "close_code",
        "frames_out",
        "low_water",
        "max_outbound",
        "raw",
        "state",
        "ws",
    )

    def __init__(self, ws: WebSocket, *, max_outbound: int, use_raw: bool = True) -> None:
        self.ws: WebSocket | None = ws
        ext = ws.scope.get("extensions") or {}
        raw = ext.get(RAW_EXTENSION, {}).get("socket") if use_raw else None
        self.raw: RawSocket | None = raw
        self.state = SocketState.OPEN
        self.max_outbound = max_outbound
        self.low_water = min(64 * 1024, max_outbound // 4)
        self.close_code: int | None = None
        self.frames_out = 0
        self._on_message: MessageHandler | None = None
        self._on_gone: Callable[[], None] | None = None
        self._merged: dict[str, PresenceUpdate] = {}
        self._merge_timer: asyncio.TimerHandle | None = None
        self._queue: deque[bytes] | None = None
        self._queued_bytes = 0
        self._ready: asyncio.Event | None = None
        self._writer: asyncio.Task[None] | None = None
        if raw is None:
            self._queue = deque()
            self._ready = asyncio.Event()
            self._writer = asyncio.get_running_loop().create_task(self._drain(), name="live writer")

    def _move(self, to: SocketState) -> None:
        if to not in _NEXT[self.state]:
            raise RuntimeError(f"live socket cannot go from {self.state.value} to {to.value}")
        self.state = to

    def is_open(self) -> bool:
        return self.state is SocketState.OPEN

    # -- inbound --------------------------------------------------------

    async def run(self, on_message: MessageHandler, on_gone: Callable[[], None]) -> None:
        """Serve frames until the socket goes; ``on_gone`` runs exactly once.

        With the raw extension this returns at once and the socket lives on
        detached; otherwise it reads until the client disconnects.
        """
        self._on_message = on_message
        self._on_gone = on_gone
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
        if self.state is not SocketState.OPEN or self._on_message is None:
            return  # closing: the rest of what the client sent is dropped
        try:
            self._on_message(message.get("text"), message.get("bytes"))
        except Exception:
            log.exception("unexpected error handling a live frame")
            self.close_soon(CloseCode.INTERNAL_ERROR, "internal error")

    def on_disconnect(self, code: int) -> None:
        if self.state is SocketState.CLOSED:
            return
        self._move(SocketState.CLOSED)
        if self._writer is not None:
            self._writer.cancel()
            self._writer = None
        if self._merge_timer is not None:
            self._merge_timer.cancel()
            self._merge_timer = None
        self._merged.clear()
        on_gone, self._on_gone, self._on_message = self._on_gone, None, None
        if on_gone is not None:
            on_gone()

    # -- outbound -------------------------------------------------------

    def buffered(self) -> int:
        """Bytes sent but not yet taken by the kernel: the outbound queue."""
        if self.raw is not None:
            return self.raw.buffered()
        return self._queued_bytes

    def send(self, wire: bytes, frames: int = 1) -> None:
        """Discrete frames (``wire``: one or more whole frames): sent, or the client is
        closed as behind. Never dropped silently."""
        if self.state is not SocketState.OPEN:
            return
        if self.buffered() > self.max_outbound:
            self.close_soon(CloseCode.BEHIND, "fell behind; resubscribe from your last epoch and offset")
            return
        self._enqueue(wire, frames)

    def send_all(self, frames: list[bytes]) -> None:
        """Several discrete frames at once (a recovery), checked against the bound once.

        A recovery is bounded by ``live_history`` events, so it may take the
        buffer past ``max_outbound``; the next live frame then closes the
        client, which resumes from the last offset it read.
        """
        if self.state is not SocketState.OPEN or not frames:
            return
        if self.buffered() > self.max_outbound:
            self.close_soon(CloseCode.BEHIND, "fell behind; resubscribe from your last epoch and offset")
            return
        self._enqueue(b"".join(frames), len(frames))

    def _enqueue(self, wire: bytes, frames: int) -> None:
        # Callers hand over whole runs (the events of one step, a recovery), so a
        # socket gets one transport write per run: one syscall, not one per frame.
        self.frames_out += frames
        raw = self.raw
        if raw is not None:
            raw.write(wire)
            return
        assert self._queue is not None and self._ready is not None
        self._queue.append(wire)
        self._queued_bytes += len(wire)
        self._ready.set()

    def send_presence(self, channel: str, update: PresenceUpdate) -> None:
        """A snapshot-like frame: merged with the pending one while the client is behind."""
        if self.state is not SocketState.OPEN:
            return
        pending = self._merged.get(channel)
        if pending is None and self.buffered() <= self.low_water:
            self.send(update.frame())
            return
        self._merged[channel] = update if pending is None else merge_updates(pending, update)
        if self._merge_timer is None:
            self._merge_timer = asyncio.get_running_loop().call_later(MERGE_RETRY, self._flush_merged)

    def forget_presence(self, channel: str) -> None:
        self._merged.pop(channel, None)

    def _flush_merged(self) -> None:
        self._merge_timer = None
        if self.state is not SocketState.OPEN or not self._merged:
            return
        if self.buffered() > self.low_water:
            self._merge_timer = asyncio.get_running_loop().call_later(MERGE_RETRY, self._flush_merged)
            return
        merged, self._merged = self._merged, {}
        for update in merged.values():
            self.send(update.frame())

    async def _drain(self) -> None:
        assert self._queue is not None and self._ready is not None
        queue, ready = self._queue, self._ready
        while True:
            await ready.wait()
            ready.clear()
            while queue:
                frame = queue.popleft()
                self._queued_bytes -= len(frame)
                if self.ws is None:
                    return
                try:
                    for text in _payload_texts(frame):
                        await self.ws.send({"type": "websocket.send", "text": text})
                except (RuntimeError, OSError):
                    return

    # -- closing --------------------------------------------------------

    def close_soon(self, code: int, reason: str, *, drop_input: bool = False) -> None:
        """Close from synchronous code: at once when raw, else as a task.

        ``drop_input`` (raw only): read nothing more from this socket (a flood).
        Same signature as ``hub.connection.Connection.close_soon``, which
        ``hub.sessions`` calls on both.
        """
        if self.state is not SocketState.OPEN:
            return
        self._move(SocketState.CLOSING)
        self.close_code = code
        if self.raw is not None:
            self.raw.close(code, reason, drop_input=drop_input)
        else:
            asyncio.get_running_loop().create_task(self._send_close(code, reason), name="live close")

    async def _send_close(self, code: int, reason: str) -> None:
        if self.ws is not None:
            with contextlib.suppress(RuntimeError, OSError):  # the peer may be gone already
                await self.ws.close(code, reason)


def _payload_texts(wire: bytes) -> list[str]:
    """The texts of whole server text frames built by ``rooms.codec.ws_text_frame``."""
    texts = []
    pos = 0
    while pos < len(wire):
        n = wire[pos + 1]
        if n < 126:
            start = pos + 2
        elif n == 126:
            n, start = int.from_bytes(wire[pos + 2 : pos + 4], "big"), pos + 4
        else:
            n, start = int.from_bytes(wire[pos + 2 : pos + 10], "big"), pos + 10
        texts.append(wire[start : start + n].decode("utf-8"))
        pos = start + n
    return texts
