"""``WS /live``: channels of events and room presence, one socket per client.

The contract is ``schema/live.schema.json``; in short:

- Connect with ``?token=JWT`` (as ``/yjs``: checked with the ``Origin``
  before the upgrade; then the directory's current record and per-user
  limits, 4403/4429/4430). The hub greets with ``welcome``.
- Commands are JSON text frames with an ``id`` that increases: ``subscribe``
  (``since: {epoch, offset}`` to recover), ``unsubscribe``, ``presence``
  (draft, active/idle) and ``ping``. They are handled in order, each
  answered by ``subscribed``/``unsubscribed``/``ack``/``pong`` or by an
  ``error`` that names the problem; a bad command never closes the socket.
- ``subscribed`` says where the stream continues: every ``event`` after it
  on that channel has the next offset, with no gap. With ``since`` it also
  says ``recovered``: true, and the ``missed`` events follow before any live
  one; or false, and the client reloads from the API (never a partial fill).
- A client that cannot keep up is closed with 4009 and resubscribes.

Tokens expire, users get disabled and rights change: the socket is
registered with ``hub.sessions`` like a document socket and closed the same
way (4401, 4403, 4402). A room channel whose planning session no longer
includes the user's unit is dropped with ``unsubscribed`` (reason
``forbidden``) within ``auth_check_interval`` seconds.
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from typing import TYPE_CHECKING, cast

from starlette.websockets import WebSocket

from hub.auth import Identity
from hub.gate import client_address
from hub.live_socket import LiveSocket
from rooms.channels import Refused, authorize, parse_channel
from rooms.errors import Closing
from rooms.event_store import Position
from rooms.events import Event
from rooms.fanout import Attached, Subscription
from rooms.live_codec import (
    MAX_COMMAND_BYTES,
    PROTOCOL,
    Command,
    CommandError,
    ErrorCode,
    Ping,
    SetPresence,
    Subscribe,
    Unsubscribe,
    decode_command,
    frame,
)
from rooms.presence import Entry, PresenceUpdate
from rooms.store import DraftKey, StoreUnavailable
from schema.close_codes import CloseCode

if TYPE_CHECKING:
    from hub.connection import Connection
    from hub.live import Live
    from hub.sessions import Session
    from hub.state import Hub

__all__ = ["LIVE_KEY", "LiveClient", "live_endpoint"]

log = logging.getLogger("tongpin.live")

# How /live sockets appear in ``hub.sessions`` and the audit trail: "/live" is
# never a room name, so no room change ever matches it.
LIVE_KEY = DraftKey("/live", "")
MAX_WAITING = 32  # commands queued behind a subscribe in progress; past it 4429


async def live_endpoint(ws: WebSocket) -> None:
    hub: Hub = ws.app.state.hub
    live = hub.live
    access = hub.access
    identity = await access.gate.upgrade(ws)
    if identity is None:
        return  # refused with an HTTP error; no websocket was made
    await ws.accept()
    if hub.stopping or live.stopping:
        await ws.close(CloseCode.SERVICE_RESTART, "hub is restarting")
        return
    client_addr = client_address(ws)
    try:
        session = await access.gate.open_socket(identity, LIVE_KEY, client_addr, "/live")
    except Closing as refused:
        await ws.close(refused.code, refused.reason)
        return
    socket = LiveSocket(ws, max_outbound=hub.settings.max_outbound, use_raw=hub.settings.raw_ws)
    # ``Session`` closes what it is given through ``close_soon``/``close_code``,
    # which a LiveSocket has as a document Connection does.
    session.attach(cast("Connection", socket))
    client = LiveClient(live, socket, session.identity, session)
    live.clients.add(client)
    live.counters.connections_total += 1
    socket.send(
        frame(
            {
                "type": "welcome",
                "protocol": PROTOCOL,
                "node": live.node_id,
                "session": client.session_id,
                "user": session.identity.sub,
                "limits": {
                    "max_command_bytes": MAX_COMMAND_BYTES,
                    "max_subscriptions": live.settings.live_max_subscriptions,
                },
            }
        )
    )
    await socket.run(client.on_frame, client.on_gone)


class LiveClient:
    """One ``/live`` client: its commands, in order, and its subscriptions.

    It is the fan-out's ``Subscriber`` and presence's ``PresenceListener``.
    """

    __slots__ = (
        "__weakref__",
        "_attaching",
        "identity",
        "inbox",
        "last_id",
        "live",
        "present",
        "session",
        "session_id",
        "socket",
        "subs",
        "worker",
    )

    def __init__(self, live: Live, socket: LiveSocket, identity: Identity, session: Session | None) -> None:
        self.live = live
        self.socket = socket
        self.identity = identity
        self.session = session
        self.session_id = live.session_id()
        self.subs: dict[str, Subscription] = {}
        self.present: set[str] = set()  # room channels this client is present in
        self.last_id = 0
        self.inbox: deque[Command | CommandError] = deque()
        self.worker: asyncio.Task[None] | None = None
        self._attaching: Subscribe | None = None

    # -- inbound ----------------------------------------------------------

    def on_frame(self, text: str | None, data: bytes | None) -> None:
        size = len(text) if text is not None else len(data or b"")
        if self.session is not None and not self.session.charge(size):
            return  # a rate limit closed the socket
        item: Command | CommandError
        try:
            item = decode_command(text, data)
        except CommandError as error:
            item = error
        else:
            if item.id <= self.last_id:
                item = CommandError(
                    ErrorCode.OUT_OF_ORDER,
                    f"id {item.id} is not above the previous command's id {self.last_id}",
                    id=item.id,
                )
            else:
                self.last_id = item.id
        if self.worker is None and not isinstance(item, Subscribe):
            self._handle(item)
            return
        if len(self.inbox) >= MAX_WAITING:
            self.socket.close_soon(CloseCode.RATE_LIMITED, "too many commands waiting; wait for the answers")
            return
        self.inbox.append(item)
        if self.worker is None:
            self.worker = asyncio.get_running_loop().create_task(self._work(), name="live commands")

    async def _work(self) -> None:
        try:
            while self.inbox and self.socket.is_open():
                item = self.inbox.popleft()
                if isinstance(item, Subscribe):
                    await self._subscribe(item)
                else:
                    self._handle(item)
        except Exception:
            log.exception("live: unexpected error handling a command")
            self.socket.close_soon(CloseCode.INTERNAL_ERROR, "internal error")
        finally:
            self.worker = None

    def _handle(self, item: Command | CommandError) -> None:
        if isinstance(item, CommandError):
            self._error(item)
        elif isinstance(item, Ping):
            self.socket.send(frame({"type": "pong", "id": item.id}))
        elif isinstance(item, Unsubscribe):
            self._unsubscribe(item)
        elif isinstance(item, SetPresence):
            self._set_presence(item)
        else:
            raise RuntimeError(f"{type(item).__name__} is not handled synchronously")

    def _error(self, error: CommandError) -> None:
        self.live.counters.errors_total += 1
        self.socket.send(error.frame())

    async def _subscribe(self, cmd: Subscribe) -> None:
        name = cmd.channel.name
        if name in self.subs:
            self._error(CommandError(ErrorCode.ALREADY_SUBSCRIBED, "already subscribed", id=cmd.id, channel=name))
            return
        limit = self.live.settings.live_max_subscriptions
        if len(self.subs) >= limit:
            self._error(
                CommandError(ErrorCode.TOO_MANY_SUBSCRIPTIONS, f"at most {limit} channels", id=cmd.id, channel=name)
            )
            return
        try:
            await authorize(self.identity, cmd.channel, self.live.lookup)
            if not self.socket.is_open():
                return
            self._attaching = cmd
            try:
                sub = await self.live.fanout.attach(name, self, cmd.since)
            finally:
                self._attaching = None
        except Refused as refused:
            self._refused(name, str(refused))
            self._error(CommandError(ErrorCode.FORBIDDEN, str(refused), id=cmd.id, channel=name))
            return
        except StoreUnavailable:
            self._error(CommandError(ErrorCode.UNAVAILABLE, "the store is unavailable; retry", id=cmd.id, channel=name))
            return
        if not self.socket.is_open():
            self.live.fanout.detach(sub)
            return
        self.subs[name] = sub
        self.live.counters.subscribes_total += 1
        if cmd.presence:
            self.present.add(name)
            identity = self.identity
            entry = Entry(
                self.session_id,
                identity.sub,
                identity.name,
                identity.unit,
                tuple(sorted(identity.roles)),
                None,
                "active",
            )
            self.live.presence.join(name, entry, self)

    def _unsubscribe(self, cmd: Unsubscribe) -> None:
        name = cmd.channel.name
        if name not in self.subs:
            self._error(CommandError(ErrorCode.NOT_SUBSCRIBED, "not subscribed", id=cmd.id, channel=name))
            return
        self._drop(name, grace=False)
        self.socket.send(frame({"type": "unsubscribed", "id": cmd.id, "channel": name}))

    def _drop(self, name: str, *, grace: bool) -> None:
        sub = self.subs.pop(name, None)
        if sub is not None:
            self.live.fanout.detach(sub)
        if name in self.present:
            self.present.discard(name)
            self.live.presence.leave(name, self.session_id, grace=grace)
            self.socket.forget_presence(name)

    def _set_presence(self, cmd: SetPresence) -> None:
        name = cmd.channel.name
        if name not in self.present:
            self._error(
                CommandError(
                    ErrorCode.NOT_SUBSCRIBED, "subscribe to the room with presence first", id=cmd.id, channel=name
                )
            )
            return
        self.live.presence.update(name, self.session_id, cmd.draft, cmd.state)
        self.socket.send(frame({"type": "ack", "id": cmd.id}))

    def _refused(self, channel: str, reason: str) -> None:
        """Record a refused subscription in the audit trail (as refused document opens are)."""
        session = self.session
        if session is None:
            return
        identity = session.identity
        session.sessions.audit.record(
            "refuse",
            actor=None if identity.anonymous else identity.sub,
            unit=identity.unit or None,
            client=session.client,
            target=f"/live/{channel}",
            detail={"reason": "forbidden", "message": reason[:200]},
        )

    async def recheck(self) -> None:
        """Drop room channels whose planning session no longer admits this user."""
        for name in [n for n in self.subs if n.startswith("room:")]:
            try:
                await authorize(self.identity, parse_channel(name), self.live.lookup)
            except Refused as refused:
                if name in self.subs:
                    self._refused(name, str(refused))
                    self._drop(name, grace=False)
                    body = {"type": "unsubscribed", "id": None, "channel": name, "reason": "forbidden"}
                    self.socket.send(frame(body))
                    log.info("live: %s dropped from %s: %s", self.identity.sub, name, refused)

    # -- the fan-out's and presence's side ---------------------------------------

    def on_attached(self, sub: Subscription, attached: Attached) -> None:
        cmd = self._attaching
        assert cmd is not None, "attached outside a subscribe"
        continues_after = attached.missed[0].offset - 1 if attached.missed else attached.offset
        body: dict[str, object] = {
            "type": "subscribed",
            "id": cmd.id,
            "channel": sub.channel,
            "epoch": attached.epoch,
            "offset": continues_after,
        }
        if attached.recovered is not None:
            body["recovered"] = attached.recovered
            if attached.recovered:
                body["missed"] = len(attached.missed)
        self.socket.send(frame(body))
        self.socket.send_all([e.frame() for e in attached.missed])

    def on_events(self, sub: Subscription, events: list[Event], wire: bytes) -> None:
        self.socket.send(wire, frames=len(events))

    def on_reset(self, sub: Subscription, position: Position) -> None:
        self.socket.send(
            frame({"type": "reset", "channel": sub.channel, "epoch": position.epoch, "offset": position.top})
        )

    def on_presence(self, channel: str, update: PresenceUpdate) -> None:
        self.socket.send_presence(channel, update)

    # -- the end --------------------------------------------------------------

    def on_gone(self) -> None:
        live = self.live
        live.clients.discard(self)
        if self.socket.close_code == CloseCode.BEHIND:
            live.counters.behind_total += 1
        if self.worker is not None:
            self.worker.cancel()
            self.worker = None
        self.inbox.clear()
        for name in list(self.subs):
            self._drop(name, grace=True)
        for name in list(self.present):  # present but not subscribed cannot happen; be sure
            self.present.discard(name)
            live.presence.leave(name, self.session_id, grace=True)
        if self.session is not None:
            self.session.close()
