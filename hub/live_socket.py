"""One ``WS /live`` socket: its frames in, its bounded outbound path.

The socket's life (state, inbound loop, close, the ASGI writer when the
``tongpin.raw`` extension is absent) is ``hub.client_socket``'s, as for
documents; with the extension frames go straight to the transport, whose
buffer is the queue.

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
import logging
from collections.abc import Callable, Mapping
from typing import Any

from starlette.websockets import WebSocket

from hub.client_socket import ClientSocket, SocketState
from rooms.presence import PresenceUpdate, merge_updates
from schema.close_codes import CloseCode

__all__ = ["LiveSocket", "SocketState"]

log = logging.getLogger("tongpin.live")

MERGE_RETRY = 0.05  # seconds between looks at a slow client's buffer

MessageHandler = Callable[[str | None, bytes | None], None]


class LiveSocket(ClientSocket):
    __slots__ = (
        "_merge_timer",
        "_merged",
        "_on_gone",
        "_on_message",
        "frames_out",
        "low_water",
    )

    KIND = "live socket"

    def __init__(self, ws: WebSocket, *, max_outbound: int, use_raw: bool = True) -> None:
        self.low_water = min(64 * 1024, max_outbound // 4)
        self.frames_out = 0
        self._on_message: MessageHandler | None = None
        self._on_gone: Callable[[], None] | None = None
        self._merged: dict[str, PresenceUpdate] = {}
        self._merge_timer: asyncio.TimerHandle | None = None
        super().__init__(ws, max_outbound=max_outbound, use_raw=use_raw, state=SocketState.OPEN)

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
        await self._serve()

    def on_message(self, message: Mapping[str, Any]) -> None:
        if self.state is not SocketState.OPEN or self._on_message is None:
            return  # closing: the rest of what the client sent is dropped
        try:
            self._on_message(message.get("text"), message.get("bytes"))
        except Exception:
            log.exception("unexpected error handling a live frame")
            self.close_soon(CloseCode.INTERNAL_ERROR, "internal error")

    def _ended(self) -> None:
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
            self._behind()
            return
        self._send_run(wire, frames)

    def send_all(self, frames: list[bytes]) -> None:
        """Several discrete frames at once (a recovery), checked against the bound once.

        A recovery is bounded by ``live_history`` events, so it may take the
        buffer past ``max_outbound``; the next live frame then closes the
        client, which resumes from the last offset it read.
        """
        if self.state is not SocketState.OPEN or not frames:
            return
        if self.buffered() > self.max_outbound:
            self._behind()
            return
        self._send_run(b"".join(frames), len(frames))

    def _behind(self) -> None:
        self.close_soon(CloseCode.BEHIND, "fell behind; resubscribe from your last epoch and offset")

    def _send_run(self, wire: bytes, frames: int) -> None:
        # Callers hand over whole runs (the events of one step, a recovery), so a
        # socket gets one transport write per run: one syscall, not one per frame.
        self.frames_out += frames
        raw = self.raw
        if raw is not None:
            raw.write(wire)
            return
        self._enqueue(wire)

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

    async def _write(self, ws: WebSocket, payload: bytes) -> None:
        for text in _payload_texts(payload):
            await ws.send({"type": "websocket.send", "text": text})


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
