"""One ``WS /hocuspocus`` socket: many drafts, each authenticated in-band.

The socket is a ``hub.connection.Connection`` (state machine, bounded
outbound path); this module adds the Hocuspocus dialect on top
(``rooms.hocuspocus_codec``). Each document address has a small state machine::

    (none) --token--> AUTHENTICATING --admitted, loaded--> OPEN --close--> (none)
                           |                                 |
                           +--refused--> DENIED <--ended-----+
                                          |  ^
                                          |  +--rights ended while authenticating
                                          +--token--> AUTHENTICATING
                                          +--close--> (none)

- The token is the first message for a document. It is checked with
  ``hub.auth.Tokens``, then the user and room as on ``/yjs``
  (``Gate.open``: a ``Session`` per document, so per-user limits, audit and
  revocation apply per draft). The answer is *authenticated* with scope
  ``readonly`` or ``read-write``, or *permission denied* with a reason
  ``"{code}: {why}"``. A denied document's later frames are dropped until a
  new token or a close: the provider keeps sending while its app decides.
- The provider sends its token, sync step 1 and awareness at once. Frames
  that come while the token is checked and the draft loads are held in
  order (at most ``auth_max_bytes`` bytes and ``PENDING_PER_DRAFT`` frames
  per draft allowed, over the socket) and handled when the document opens.
  What the draft sends meanwhile waits behind the *authenticated* answer.
- An open document is a peer of its ``Draft`` like a ``/yjs`` socket, so
  presence and read-only rules are the same. Outbound y-protocols messages
  get the document's address in front; a draft's broadcast is prefixed and
  framed once for all peers with the same address (``_Prefixed``). A refused
  update (permission denied on ``/yjs``) is answered with sync status 0.
- Sync status 1 says "stored": the journal's per-peer count (as ``/yjs``'s
  ``stored`` signal), one message per stored update, so the provider's
  ``hasUnsyncedChanges`` is false only once its edits are durable.
- Until its first document authenticates the socket is bounded by
  ``hub.limits.AuthGuard`` (deadline, bytes, messages); afterwards frames
  for open documents are charged to their session, the rest to the socket.
- Rights that end for one document (its token expires, its user's unit
  leaves the planning session, the session's state or the user's roles
  change) end that document only: the hub sends it a close message with the
  reason (the provider's ``close`` event, code 1000) and treats it as
  denied, and the socket and its other documents go on. The app attaches
  the provider again (a new token) to get the rights it has now. A disabled
  user's socket closes whole (4403): every document on it is theirs.
- Keepalive: providers that send their version (4.x) get a connection-level
  ping every ``ping_interval`` seconds and answer with a pong; older ones
  (3.x, which know no ping) get a frame addressed to no document, which
  they drop after noting that something arrived. Either keeps the
  provider's 30 s silence check from reconnecting, awareness on or off.

Bad input closes only this socket: undecodable frames 4000, unknown types
4002, a bad document name 4004, a second token for a document 4005, a
message for a document before its token 4006, too many drafts 4431.
"""

from __future__ import annotations

import asyncio
import enum
import logging
import time
from typing import TYPE_CHECKING, cast

from hub.auth import Identity, TokenError
from hub.connection import Connection
from hub.hocuspocus_live import Bridge
from hub.limits import BURST_SECONDS, AuthGuard, DraftQuota, TokenBucket
from hub.sessions import REVOKED
from rooms import codec
from rooms import hocuspocus_codec as hp
from rooms.draft import Draft, Outgoing
from rooms.errors import Closing
from rooms.hocuspocus_codec import Frame, HocusType
from rooms.names import valid_name
from rooms.store import DraftKey
from schema.close_codes import CloseCode

if TYPE_CHECKING:
    from hub.sessions import Session
    from hub.state import Hub

__all__ = ["PENDING_PER_DRAFT", "PER_DOCUMENT", "DocState", "HocusDoc", "HocusSocket", "HocuspocusStats", "draft_key"]

log = logging.getLogger("tongpin.hocuspocus")

PENDING_PER_DRAFT = 8  # frames a draft may have held while it authenticates (token, sync, awareness, ...)
ONE_USER = "forbidden: every document on one connection is opened by the same user"
_PING = Outgoing(hp.PING)
_PONG = Outgoing(hp.PONG)
_KEEPALIVE = Outgoing(hp.KEEPALIVE)
# Revocations that end one document; the rest (rate limits, a disabled user, ...) close the socket.
PER_DOCUMENT = frozenset({CloseCode.AUTH_EXPIRED, CloseCode.RIGHTS_CHANGED, CloseCode.FORBIDDEN})
SOCKET_WIDE_REASONS = frozenset({REVOKED["user_disabled"]})  # the user owns every document on the socket


def draft_key(address: str) -> DraftKey | None:
    """The draft an address names (``room/draft``, as ``/yjs``), or None."""
    room, slash, draft = hp.document_name(address).partition("/")
    if not slash or not valid_name(room) or not valid_name(draft):
        return None
    return DraftKey(room, draft)


class HocuspocusStats:
    __slots__ = ("denied_total", "documents", "ended_total", "events_total", "sockets", "sockets_total")

    def __init__(self) -> None:
        self.sockets = 0
        self.sockets_total = 0
        self.documents = 0
        self.denied_total = 0
        self.ended_total = 0
        self.events_total = 0

    def metric_rows(self) -> list[tuple[str, str, str, float]]:
        return [
            ("tongpin_hocuspocus_sockets", "gauge", "Open /hocuspocus sockets.", self.sockets),
            ("tongpin_hocuspocus_sockets_total", "counter", "/hocuspocus sockets accepted.", self.sockets_total),
            ("tongpin_hocuspocus_documents", "gauge", "Drafts open on /hocuspocus sockets.", self.documents),
            ("tongpin_hocuspocus_denied_total", "counter", "Documents answered permission denied.", self.denied_total),
            (
                "tongpin_hocuspocus_ended_total",
                "counter",
                "Documents the hub ended (rights ended) while their socket went on.",
                self.ended_total,
            ),
            (
                "tongpin_hocuspocus_events_total",
                "counter",
                "Live events sent as stateless messages.",
                self.events_total,
            ),
        ]


class _Prefixed:
    """The latest outgoing message, with each address it went to in front.

    A draft's broadcast reaches its peers one after another with the same
    ``Outgoing``, so every peer with an address after the first one reuses
    the first one's bytes and frame: encoded once per broadcast and address
    (one address per draft, unless providers multiplex it with session ids),
    not once per peer.
    """

    __slots__ = ("by_prefix", "source")

    def __init__(self) -> None:
        self.source = Outgoing(b"")
        self.by_prefix: dict[bytes, Outgoing] = {}

    def get(self, source: Outgoing, prefix: bytes) -> Outgoing:
        if source is not self.source:
            self.source = source
            self.by_prefix = {}
        out = self.by_prefix.get(prefix)
        if out is None:
            out = self.by_prefix[prefix] = Outgoing(prefix + source.payload)
        return out


_PREFIXED = _Prefixed()


class DocState(enum.Enum):
    AUTHENTICATING = "authenticating"  # token being checked, draft loading; frames held
    OPEN = "open"
    DENIED = "denied"  # permission denied, or ended by the hub; frames dropped until a new token


class HocusDoc:
    """One document address on a socket: a draft's peer, speaking this dialect.

    To ``hub.sessions`` it is what a session closes: a revocation of this
    document's rights (``PER_DOCUMENT``) ends this document alone, anything
    else closes the socket.
    """

    __slots__ = (
        "__weakref__",
        "_stored",
        "address",
        "draft",
        "ended",
        "held",
        "key",
        "pending",
        "pending_bytes",
        "prefix",
        "read_only",
        "session",
        "socket",
        "state",
        "step1s",
    )

    def __init__(self, socket: HocusSocket, address: str, key: DraftKey) -> None:
        self.socket = socket
        self.address = address
        self.key = key
        self.prefix = hp.prefix(address)
        self.state = DocState.AUTHENTICATING
        self.read_only = True  # until admitted
        self.session: Session | None = None
        self.draft: Draft | None = None
        self.pending: list[tuple[Frame, bytes]] = []
        self.pending_bytes = 0
        self.step1s = 0
        self.held: list[Outgoing] | None = []  # what the draft sends before the authenticated answer is out
        self.ended: int | None = None  # the close code, once the hub ended this document
        self._stored = Outgoing(hp.sync_status(self.prefix, True))

    def __repr__(self) -> str:
        return f"<HocusDoc {self.address!r} {self.state.value}>"

    # -- the draft's peer -------------------------------------------------

    def send(self, out: Outgoing) -> None:
        """A y-protocols message from the draft, in this dialect."""
        held = self.held
        if held is not None:
            held.append(out)
            return
        if out.payload[0] == codec.MessageType.AUTH:  # permission denied: an update was refused
            self.send_own(hp.sync_status(self.prefix, False))
            return
        self.socket.conn.send(_PREFIXED.get(out, self.prefix))

    def on_stored(self, count: int) -> None:
        for _ in range(count):
            self.socket.conn.send(self._stored)

    def send_own(self, message: bytes) -> None:
        """A message for this document alone (already prefixed)."""
        self.socket.conn.send(Outgoing(message))

    # -- what a session closes ---------------------------------------------

    @property
    def close_code(self) -> int | None:
        return self.ended if self.ended is not None else self.socket.conn.close_code

    def close_soon(self, code: int, reason: str, *, drop_input: bool = False) -> None:
        if code in PER_DOCUMENT and reason not in SOCKET_WIDE_REASONS:
            self.socket.end(self, CloseCode(code), reason)
        else:
            self.socket.conn.close_soon(code, reason, drop_input=drop_input)


class HocusSocket:
    def __init__(self, hub: Hub, conn: Connection, client: str | None) -> None:
        settings = hub.settings
        limits = hub.access.sessions.limits
        self.hub = hub
        self.conn = conn
        self.client = client
        self.docs: dict[str, HocusDoc] = {}
        self.quota = DraftQuota(settings.max_drafts_per_connection)
        self.pending_limit = PENDING_PER_DRAFT * settings.max_drafts_per_connection
        self.pending_messages = 0
        self.pending_bytes = 0
        self.guard: AuthGuard | None = AuthGuard(
            timeout=settings.auth_timeout, max_bytes=settings.auth_max_bytes, max_messages=self.pending_limit
        )
        self.user: str | None = None  # every document on one socket is opened by one user
        self._anonymous: Identity | None = None
        self.pings = False  # the provider answers connection-level pings
        now = time.monotonic()
        self.messages = TokenBucket(limits.msg_rate, limits.msg_rate * BURST_SECONDS, now=now)
        self.bytes = TokenBucket(limits.byte_rate, limits.byte_burst(limits.byte_rate), now=now)
        self.bridge = Bridge(
            hub.live, hub.hocuspocus, conn, settings.live_max_subscriptions, settings.auth_check_interval
        )
        self._tasks: set[asyncio.Task[None]] = set()
        loop = asyncio.get_running_loop()
        self._deadline_timer: asyncio.TimerHandle | None = loop.call_later(settings.auth_timeout, self._deadline)
        self._ping_timer: asyncio.TimerHandle | None = None

    # -- inbound ------------------------------------------------------------

    def on_frame(self, conn: Connection, data: bytes) -> None:
        if len(data) == 1 and data in (hp.PING, hp.PONG):
            if self._charge(len(data)) and data == hp.PING:
                conn.send(_PONG)
            return
        try:
            frame = hp.decode_frame(data)
        except codec.UnknownMessage as exc:
            raise Closing(CloseCode.UNKNOWN_MESSAGE, str(exc)) from exc
        except codec.DecodeError as exc:
            raise Closing(CloseCode.BAD_FRAME, str(exc)) from exc
        doc = self.docs.get(frame.address)
        if doc is not None and doc.state is DocState.OPEN:
            assert doc.session is not None
            if doc.session.charge(len(data)):
                self._handle(doc, frame)
            return
        if not self._charge(len(data)):
            return
        if frame.type is HocusType.AUTH:
            self._token(doc, frame)
        elif doc is None:
            if draft_key(frame.address) is None:
                raise Closing(CloseCode.BAD_NAME, "a document name is room/draft, each 1-64 of A-Z a-z 0-9 _ -")
            raise Closing(CloseCode.NOT_AUTHENTICATED, f"send the token for {frame.address[:60]!r} first")
        elif frame.type is HocusType.CLOSE:
            self._forget(doc)
        elif doc.state is DocState.AUTHENTICATING:
            self._hold(doc, frame, data)
        # else: a denied document's frame, dropped (its provider goes on sending until its app reacts)

    def _charge(self, size: int) -> bool:
        """Count a frame that is not for an open document; False if a limit closed the socket."""
        if self.guard is not None:
            self.guard.charge(size)  # raises Closing past the deadline or the caps
            return True
        now = time.monotonic()
        if self.messages.take(1, now) and self.bytes.take(size, now):
            return True
        sessions = self.hub.access.sessions
        sessions.rate_limited += 1
        sessions.audit.record(
            "refuse", actor=self.user, client=self.client, target="/hocuspocus", detail={"reason": "rate_limited"}
        )
        self.conn.close_soon(CloseCode.RATE_LIMITED, "too many messages or bytes per second; back off", drop_input=True)
        return False

    def _hold(self, doc: HocusDoc, frame: Frame, data: bytes) -> None:
        too_many = self.pending_messages >= self.pending_limit
        if too_many or self.pending_bytes + len(data) > self.hub.settings.auth_max_bytes:
            raise Closing(CloseCode.AUTH_TOO_LARGE, "too much sent for documents still authenticating")
        doc.pending.append((frame, data))
        doc.pending_bytes += len(data)
        self.pending_messages += 1
        self.pending_bytes += len(data)

    def _unhold(self, doc: HocusDoc) -> list[tuple[Frame, bytes]]:
        held, doc.pending = doc.pending, []
        self.pending_messages -= len(held)
        self.pending_bytes -= doc.pending_bytes
        doc.pending_bytes = 0
        return held

    # -- authentication -------------------------------------------------------

    def _token(self, doc: HocusDoc | None, frame: Frame) -> None:
        if doc is not None and doc.state is not DocState.DENIED:
            raise Closing(CloseCode.ALREADY_AUTHENTICATED, f"a second token for {frame.address[:60]!r}")
        key = draft_key(frame.address)
        if key is None:
            raise Closing(CloseCode.BAD_NAME, "a document name is room/draft, each 1-64 of A-Z a-z 0-9 _ -")
        if self.hub.stopping:
            self.conn.close_soon(CloseCode.SERVICE_RESTART, "hub is restarting")
            return
        self.quota.open(frame.address)  # raises Closing past max_drafts_per_connection
        self.pings = self.pings or frame.version is not None
        if self._ping_timer is None:
            self._arm_ping()
        doc = self.docs[frame.address] = HocusDoc(self, frame.address, key)
        task = asyncio.get_running_loop().create_task(self._admit(doc, frame.text), name="hocuspocus admit")
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _admit(self, doc: HocusDoc, token: str) -> None:
        try:
            await self._admit_doc(doc, token)
        except Closing as closing:  # from a held frame
            self._bad_input(closing)
        except Exception:
            log.exception("unexpected error opening %s", doc.key)
            self.conn.close_soon(CloseCode.INTERNAL_ERROR, "internal error")

    async def _admit_doc(self, doc: HocusDoc, token: str) -> None:
        access = self.hub.access
        try:
            identity = self._identity(token)
        except TokenError as refused:
            access.sessions.refused += 1
            access.audit.record(
                "refuse",
                actor=refused.sub,
                client=self.client,
                target=f"/hocuspocus/{doc.key}",
                detail={"reason": refused.code},
            )
            self._deny(doc, f"{refused.code}: {refused}")
            return
        if self.user is not None and identity.sub != self.user:
            self._deny(doc, ONE_USER)
            return
        try:
            session = await access.gate.open(identity, doc.key, self.client)
        except Closing as refused:
            self._deny(doc, f"{refused.code.name.lower()}: {refused.reason}")
            return
        if not self._current(doc) or (self.user is not None and identity.sub != self.user):
            session.close()  # closed meanwhile, or another document opened as someone else first
            self._deny(doc, ONE_USER)
            return
        if self.user is None:
            self.user = identity.sub
            self.guard = None
            if self._deadline_timer is not None:
                self._deadline_timer.cancel()
                self._deadline_timer = None
        doc.session = session
        doc.read_only = session.read_only
        session.attach(cast("Connection", doc))
        self.hub.hocuspocus.documents += 1
        try:
            draft = await self.hub.registry.join(doc.key, doc)
        except Exception:
            log.exception("loading %s failed", doc.key)
            self.conn.close_soon(CloseCode.TRY_AGAIN_LATER, "draft could not be loaded; try again")
            return
        if not self._current(doc):
            self.hub.registry.leave(doc.key, doc)
            return
        # The scope says whether updates will be taken: not from a read-only user, nor into a published draft.
        doc.send_own(hp.authenticated(doc.prefix, doc.read_only or draft.read_only))
        held, doc.held = doc.held, None
        for out in held or ():  # the draft's greeting (state vector, who is here), then what came since
            doc.send(out)
        doc.draft = draft
        doc.state = DocState.OPEN
        for frame, _ in self._unhold(doc):  # no await from here on: nothing new arrives in between
            self._handle(doc, frame)

    def _identity(self, token: str) -> Identity:
        gate = self.hub.access.gate
        if gate.auth_off:
            if self._anonymous is None:
                self._anonymous = gate.anonymous()
            return self._anonymous
        return gate.tokens.verify(token)

    def _deny(self, doc: HocusDoc, reason: str) -> None:
        if not self._current(doc):
            return
        self._unhold(doc)
        doc.state = DocState.DENIED
        self.hub.hocuspocus.denied_total += 1
        doc.send_own(hp.permission_denied(doc.prefix, reason[:200]))

    def _current(self, doc: HocusDoc) -> bool:
        """Is ``doc`` still this address's live document (not closed, denied or ended meanwhile)?"""
        return self.docs.get(doc.address) is doc and doc.state is not DocState.DENIED and self.conn.close_code is None

    def end(self, doc: HocusDoc, code: CloseCode, reason: str) -> None:
        """The document's rights ended: end it alone, with the reason; the socket and its other documents go on.

        An open document gets a close message (the provider's ``close``
        event); one still authenticating was never told it is in, so it is
        denied. Either way it is then a denied address: its frames are
        dropped until the provider sends a new token or closes it.
        """
        if not self._current(doc):
            return
        why = f"{code.name.lower()}: {reason}"[:200]
        doc.ended = code
        if doc.state is DocState.OPEN:
            doc.send_own(hp.close(doc.prefix, why))
        else:
            doc.send_own(hp.permission_denied(doc.prefix, why))
        doc.state = DocState.DENIED
        self.hub.hocuspocus.ended_total += 1
        self._release(doc)

    # -- an open document -------------------------------------------------------

    def _handle(self, doc: HocusDoc, frame: Frame) -> None:
        draft = doc.draft
        assert draft is not None and doc.session is not None
        kind = frame.type
        if kind is HocusType.SYNC:
            if frame.step == codec.SyncStep.STEP1:
                draft.receive(doc, frame.message)
                if doc.step1s:  # a later step 1 (a forced resync) gets ours back, so the provider's count settles
                    doc.send_own(doc.prefix + codec.sync_step1(draft.doc.get_state()))
                doc.step1s += 1
                return
            applied, denied = draft.updates_in, draft.denied_in
            draft.receive(doc, frame.message)
            self.hub.counters.updates_total += draft.updates_in - applied
            if draft.denied_in != denied:
                doc.session.on_denied()  # answered with sync status 0 (``HocusDoc.send``)
            elif draft.updates_in == applied:
                doc.on_stored(1)  # nothing to store (an empty update from a read-only peer)
        elif kind is HocusType.AWARENESS or kind is HocusType.QUERY_AWARENESS:
            draft.receive(doc, frame.message)
        elif kind is HocusType.STATELESS:
            self.bridge.command(doc, frame.text)
        elif kind is HocusType.CLOSE:
            self._forget(doc)
        else:  # AUTH
            raise Closing(CloseCode.ALREADY_AUTHENTICATED, f"a second token for {frame.address[:60]!r}")

    def _forget(self, doc: HocusDoc) -> None:
        """The client left the document (close), or the socket went."""
        if self.docs.get(doc.address) is doc:
            del self.docs[doc.address]
        self.quota.close(doc.address)
        self._release(doc)

    def _release(self, doc: HocusDoc) -> None:
        """What the document held: frames, subscriptions, its place in the draft, its session."""
        self._unhold(doc)
        self.bridge.drop(doc)
        if doc.session is not None:
            self.hub.registry.leave(doc.key, doc)  # a no-op unless it joined
            self.hub.hocuspocus.documents -= 1
            doc.session.close()
            doc.session = None

    def _bad_input(self, closing: Closing) -> None:
        self.hub.counters.bad_input_total += 1
        log.info("closing a hocuspocus client: %s", closing)
        self.conn.close_soon(closing.code, closing.reason)

    # -- timers and the end ---------------------------------------------------------

    def _deadline(self) -> None:
        self._deadline_timer = None
        if self.user is None:
            self.conn.close_soon(CloseCode.AUTH_TIMEOUT, "authenticate first, in time")

    def _arm_ping(self) -> None:
        self._ping_timer = asyncio.get_running_loop().call_later(self.hub.settings.ping_interval, self._ping)

    def _ping(self) -> None:
        self.conn.send(_PING if self.pings else _KEEPALIVE)
        self._arm_ping()

    def on_gone(self, conn: Connection) -> None:
        for timer in (self._deadline_timer, self._ping_timer):
            if timer is not None:
                timer.cancel()
        self._deadline_timer = self._ping_timer = None
        for doc in list(self.docs.values()):
            self._forget(doc)
        self.bridge.close()
        self.hub.hocuspocus.sockets -= 1
