"""``WS /hocuspocus``: the Hocuspocus dialect, many drafts per socket.

The unmodified npm ``@hocuspocus/provider`` connects with
``url = ws://HOST/hocuspocus`` and ``name = "{room}/{draft}"``; its ``token``
travels in-band, as the first message for each document, so the upgrade
needs no ``?token=``. The ``Origin`` is checked before the upgrade as on
``/yjs`` (``hub.gate``). The socket itself is ``hub.hocuspocus.HocusSocket``;
the contract is in ``schema/WIRE.md``.
"""

from __future__ import annotations

from starlette.websockets import WebSocket

from hub.connection import Connection
from hub.gate import client_address
from hub.hocuspocus import HocusSocket
from hub.state import Hub
from schema.close_codes import CloseCode

__all__ = ["hocuspocus_endpoint"]


async def hocuspocus_endpoint(ws: WebSocket) -> None:
    hub: Hub = ws.app.state.hub
    if not await hub.access.gate.check_origin(ws):
        return  # refused with an HTTP error; no websocket was made
    await ws.accept()
    if hub.stopping:
        await ws.close(CloseCode.SERVICE_RESTART, "hub is restarting")
        return
    conn = Connection(ws, hub.counters, max_outbound=hub.settings.max_outbound, use_raw=hub.settings.raw_ws)
    socket = HocusSocket(hub, conn, client_address(ws))
    hub.hocuspocus.sockets += 1
    hub.hocuspocus.sockets_total += 1
    await conn.run(socket.on_frame, socket.on_gone)
