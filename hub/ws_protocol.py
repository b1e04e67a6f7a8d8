"""uvicorn's sans-I/O websocket protocol, plus one ASGI extension.

The extension ``tongpin.raw`` hands the app a ``RawSocket`` with two powers:

- ``write``: put frames the app has already framed straight on the
  transport. A broadcast is framed once (``rooms.codec.ws_binary_frame``) and
  the same bytes go to every receiver, skipping the per-socket ASGI ``send``
  (event dict, framing, an await). ``bench/`` measures what that saves.
- ``detach``: after the handshake and join, the app hands over a receiver
  and its ASGI task ends. From then on each inbound message is delivered by a
  plain call from ``data_received``, in order, and a close by another call.
  An idle connection then holds no task, no coroutine frames and no queue,
  which is most of what a connection costs.

Handshake, pings, close handshake and frame parsing stay uvicorn's.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from typing import Any, Protocol

from uvicorn.protocols.utils import ClientDisconnected
from uvicorn.protocols.websockets.websockets_sansio_impl import WebSocketsSansIOProtocol
from websockets.http11 import Request

__all__ = ["RAW_EXTENSION", "RawSocket", "Receiver", "TongpinWSProtocol"]

RAW_EXTENSION = "tongpin.raw"
DROP_INPUT_CLOSE_AFTER = 1.0  # seconds a closed, no longer read socket has to take its close frame


class Receiver(Protocol):
    def on_message(self, message: Mapping[str, Any]) -> None:
        """One ``websocket.receive`` event; must not raise."""

    def on_disconnect(self, code: int) -> None:
        """The socket is gone; may be called more than once."""


class _Inbox:
    """Stands in for the protocol's ASGI queue once the app has detached."""

    __slots__ = ("receiver",)

    def __init__(self, receiver: Receiver) -> None:
        self.receiver = receiver

    def put_nowait(self, message: dict[str, Any]) -> None:
        if message["type"] == "websocket.receive":
            self.receiver.on_message(message)
        else:
            self.receiver.on_disconnect(int(message.get("code", 1005)))

    def empty(self) -> bool:
        return True


class _NoWait:
    """A shared stand-in for a detached connection's ``writable`` event."""

    __slots__ = ()

    def set(self) -> None:
        pass

    def clear(self) -> None:
        pass


_NO_WAIT = _NoWait()


class RawSocket:
    """Direct access to one connection's transport (see the module docstring)."""

    __slots__ = ("_proto",)

    def __init__(self, proto: TongpinWSProtocol) -> None:
        self._proto = proto

    def write(self, frame: bytes) -> bool:
        """Queue a complete server frame; False once the socket is closing."""
        proto = self._proto
        if proto.close_sent or proto.disconnected or proto.transport.is_closing():
            return False
        proto.transport.write(frame)
        return True

    def buffered(self) -> int:
        """Bytes written but not yet taken by the kernel (the outbound queue)."""
        return self._proto.transport.get_write_buffer_size()

    def detach(self, receiver: Receiver) -> None:
        self._proto.detach(receiver)

    def close(self, code: int, reason: str, *, drop_input: bool = False) -> None:
        self._proto.close_now(code, reason, drop_input=drop_input)


class TongpinWSProtocol(WebSocketsSansIOProtocol):
    detached = False

    def handle_connect(self, event: Request) -> None:
        super().handle_connect(event)
        # The ASGI task is created but has not run yet: it sees this entry.
        extensions: dict[str, Any] = self.scope.setdefault("extensions", {})
        extensions[RAW_EXTENSION] = {"socket": RawSocket(self)}
        # The scope holds its own copy of the headers, and the request is not
        # needed again; its parser keeps a reference, so empty it in place.
        event.headers.clear()
        del self.request

    def detach(self, receiver: Receiver) -> None:
        if self.detached:
            raise RuntimeError("socket already detached")
        queue: asyncio.Queue[Any] = self.queue
        pending = []
        while not queue.empty():
            pending.append(queue.get_nowait())
        inbox = _Inbox(receiver)
        self.queue = inbox  # type: ignore[assignment]
        self.detached = True
        # Handshake-only state an idle connection need not keep. Nobody waits
        # on ``writable`` once detached (writes go straight to the transport).
        self.response = None  # type: ignore[assignment]
        self.scope = None  # type: ignore[assignment]
        self.writable = _NO_WAIT  # type: ignore[assignment]
        if self.read_paused:
            self.read_paused = False
            self.transport.resume_reading()
        for message in pending:
            inbox.put_nowait(message)

    def send_receive_event_to_app(self) -> None:
        if not self.detached:
            super().send_receive_event_to_app()
            return
        data = self.frames[0] if len(self.frames) == 1 else b"".join(self.frames)
        self.frames = []
        if self.close_sent:
            return
        if self.curr_msg_data_type == "text":
            self.queue.put_nowait({"type": "websocket.receive", "text": bytes(data).decode("utf-8", "replace")})
        else:
            self.queue.put_nowait({"type": "websocket.receive", "bytes": bytes(data)})

    def close_now(self, code: int, reason: str, *, drop_input: bool = False) -> None:
        """Start the close handshake from synchronous code (as ASGI close does).

        ``drop_input``: stop reading this socket at once (a flooding client):
        what it still sends is never parsed. It gets the close frame; its
        reply is not awaited, and the transport closes after a second.
        """
        if self.close_sent or self.transport.is_closing():
            return
        self.queue.put_nowait({"type": "websocket.disconnect", "code": code, "reason": reason})
        self.conn.send_close(code, reason)
        self.transport.write(b"".join(self.conn.data_to_send()))
        self.close_sent = True
        if drop_input:
            if not self.read_paused:
                self.read_paused = True
                self.transport.pause_reading()
            self.close_timer = self.loop.call_later(DROP_INPUT_CLOSE_AFTER, self.transport.close)
            return
        if self.read_paused:
            self.read_paused = False
            self.transport.resume_reading()
        self.close_timer = self.loop.call_later(self.close_timeout, self.transport.close)

    async def run_asgi(self) -> None:
        # As uvicorn's, except that a detached connection outlives its task.
        try:
            await self.app(self.scope, self.receive, self.send)
        except ClientDisconnected:
            pass
        except BaseException:
            self.logger.exception("Exception in ASGI application\n")
            self.send_500_response()
        if self.detached:
            return  # the connection lives on without its task
        if not self.handshake_complete and self.initial_response is None:  # a denial response is complete
            self.logger.error("ASGI callable returned without completing handshake.")
            self.send_500_response()
        if self.close_timer is None:
            self.transport.close()
