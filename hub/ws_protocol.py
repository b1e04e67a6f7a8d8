"""uvicorn's sans-I/O websocket protocol, plus one ASGI extension.

The extension ``tongpin.raw`` hands the app a ``RawSocket``: a direct
``transport.write`` for frames the app has already framed. A broadcast is
framed once (``rooms.codec.ws_binary_frame``) and the same bytes go to every
receiver, skipping the per-socket ASGI ``send`` (event dict, framing, an
await). ``bench/asgi_send_cost.py`` measures what that skip saves.
Everything else, handshake, close, ping and receive, stays plain ASGI.
"""

from __future__ import annotations

from typing import Any

from uvicorn.protocols.websockets.websockets_sansio_impl import WebSocketsSansIOProtocol
from websockets.http11 import Request

__all__ = ["RawSocket", "TongpinWSProtocol"]

RAW_EXTENSION = "tongpin.raw"


class RawSocket:
    """Write pre-framed server frames straight to one connection's transport."""

    __slots__ = ("_proto",)

    def __init__(self, proto: WebSocketsSansIOProtocol) -> None:
        self._proto = proto

    def write(self, frame: bytes) -> bool:
        """Queue ``frame`` on the transport; False once the socket is closing."""
        proto = self._proto
        if proto.close_sent or proto.disconnected or proto.transport.is_closing():
            return False
        proto.transport.write(frame)
        return True

    def buffered(self) -> int:
        """Bytes written but not yet taken by the kernel (the outbound queue)."""
        return self._proto.transport.get_write_buffer_size()


class TongpinWSProtocol(WebSocketsSansIOProtocol):
    def handle_connect(self, event: Request) -> None:
        super().handle_connect(event)
        # The ASGI task is created but has not run yet: it sees this entry.
        extensions: dict[str, Any] = self.scope.setdefault("extensions", {})
        extensions[RAW_EXTENSION] = {"socket": RawSocket(self)}
        # The parsed request is not needed after the scope is built; an idle
        # connection should not keep its headers twice.
        del self.request
