"""``WS /yjs/{room}/{draft}``: the y-websocket dialect, one draft per socket.

Query parameters:
- ``token=JWT``: who is connecting (see ``hub.auth``). Checked with the
  ``Origin`` before the upgrade is accepted (``hub.gate``); membership of
  the room and per-user limits right after.
- ``stored=1``: ask for the ``stored`` signal (message type 100, see
  ``schema/WIRE.md``). Clients that do not ask never receive it.

Users who may not edit get a read-only connection: their updates are
answered with permission denied and never applied.
"""

from __future__ import annotations

import logging

from starlette.websockets import WebSocket

from hub.connection import Connection
from hub.gate import client_address
from hub.state import Hub
from rooms.errors import Closing
from rooms.names import valid_name
from rooms.store import DraftKey
from schema.close_codes import CloseCode

__all__ = ["PREFIX", "yjs_endpoint"]

log = logging.getLogger("tongpin.yjs")

PREFIX = "/yjs/"


def parse_draft_key(raw_path: bytes) -> DraftKey | None:
    """The draft a raw request path names, or None if it is not allowed.

    The raw (undecoded) path is checked so that percent-escapes can never
    smuggle a ``/`` or ``..`` past the name rules.
    """
    try:
        path = raw_path.decode("ascii")
    except UnicodeDecodeError:
        return None
    if not path.startswith(PREFIX):
        return None
    parts = path[len(PREFIX) :].split("/")
    if len(parts) != 2 or not all(valid_name(p) for p in parts):
        return None
    return DraftKey(parts[0], parts[1])


async def yjs_endpoint(ws: WebSocket) -> None:
    hub: Hub = ws.app.state.hub
    gate = hub.access.gate
    identity = await gate.upgrade(ws)
    if identity is None:
        return  # refused with an HTTP error; no websocket was made
    raw_path = ws.scope.get("raw_path") or ws.scope["path"].encode("utf-8", "replace")
    key = parse_draft_key(raw_path)
    await ws.accept()
    if key is None:
        hub.counters.bad_input_total += 1
        gate.refused(identity, client_address(ws), raw_path.decode("ascii", "replace"), "bad_name", CloseCode.BAD_NAME)
        await ws.close(CloseCode.BAD_NAME, "room and draft names: 1-64 of A-Z a-z 0-9 _ -")
        return
    if hub.stopping:
        await ws.close(CloseCode.SERVICE_RESTART, "hub is restarting")
        return
    try:
        session = await gate.open(identity, key, client_address(ws))
    except Closing as refused:
        await ws.close(refused.code, refused.reason)
        return
    conn = Connection(
        ws,
        hub.counters,
        max_outbound=hub.settings.max_outbound,
        read_only=session.read_only,
        wants_stored=ws.query_params.get("stored") == "1",
        use_raw=hub.settings.raw_ws,
    )
    session.attach(conn)
    hub.connections.add(conn)
    hub.counters.connections_total += 1
    try:
        draft = await hub.registry.join(key, conn)
    except Exception:
        log.exception("loading %s failed", key)
        hub.connections.discard(conn)
        await conn.close(CloseCode.TRY_AGAIN_LATER, "draft could not be loaded; try again")
        session.close()
        return
    counters = hub.counters

    def on_frame(conn: Connection, data: bytes) -> None:
        if not session.charge(len(data)):
            return  # a rate limit closed the socket
        before, denied = draft.updates_in, draft.denied_in
        draft.receive(conn, data)
        counters.updates_total += draft.updates_in - before
        if draft.denied_in != denied:
            session.on_denied()

    def on_gone(conn: Connection) -> None:
        hub.connections.discard(conn)
        hub.registry.leave(key, conn)
        session.close()

    await conn.run(on_frame, on_gone)
