"""One open draft: its authoritative Yjs document, its peers and awareness.

A ``Draft`` is driven by the connections attached to it. Everything here runs
on the event loop and never awaits, so each message is handled whole before
the next: no locks are needed for the document itself.

Updates carry their origin (``Origin``): only client updates are journaled and
published to the broker; broker updates are applied and relayed to local
peers, never re-persisted or re-published.
"""

from __future__ import annotations

import enum
import logging
from collections.abc import Callable
from typing import Any, Protocol

from pycrdt import Doc, TransactionEvent

from rooms import codec
from rooms.awareness import AwarenessStates, decode_awareness, encode_awareness
from rooms.errors import Closing
from rooms.journal import Journal, JournalFull, StoredListener
from rooms.store import DraftKey
from schema.close_codes import CloseCode

__all__ = ["Draft", "Origin", "Outgoing", "Peer"]

log = logging.getLogger("tongpin.draft")

EMPTY_UPDATE = b"\x00\x00"


def refused_by_yrs(exc: BaseException) -> bool:
    """Did Yrs refuse bytes a client sent? A ValueError, or a Rust panic.

    Some malformed updates make Yrs panic (found by ``tests/identity/
    test_fuzz.py``); pyo3 raises that as ``pyo3_runtime.PanicException``, a
    BaseException that ``except Exception`` would let through to the server.
    """
    kind = type(exc)
    return isinstance(exc, ValueError) or (kind.__module__ == "pyo3_runtime" and kind.__name__ == "PanicException")


class Origin(enum.Enum):
    CLIENT = "client"
    BROKER = "broker"
    LOAD = "load"
    WORKER = "worker"


class Outgoing:
    """One message for many receivers, encoded once, framed once on demand."""

    __slots__ = ("_wire", "payload")

    def __init__(self, payload: bytes) -> None:
        self.payload = payload
        self._wire: bytes | None = None

    @property
    def wire(self) -> bytes:
        if self._wire is None:
            self._wire = codec.ws_binary_frame(self.payload)
        return self._wire


class Peer(StoredListener, Protocol):
    """A connection as a draft sees it."""

    read_only: bool

    def send(self, out: Outgoing) -> None: ...


class Draft:
    __slots__ = (
        "_delta",
        "_sub",
        "awareness",
        "denied_in",
        "doc",
        "journal",
        "key",
        "log_length",
        "on_awareness",
        "on_broadcast",
        "on_log_grew",
        "peers",
        "read_only",
        "updates_in",
    )

    def __init__(
        self,
        key: DraftKey,
        doc: Doc[Any],
        journal: Journal,
        *,
        log_length: int = 0,
        on_log_grew: Callable[[Draft], None] | None = None,
        on_broadcast: Callable[[Draft, bytes, Origin], None] | None = None,
        on_awareness: Callable[[Draft, bytes], None] | None = None,
    ) -> None:
        self.key = key
        self.doc = doc
        self.peers: set[Peer] = set()
        self.awareness = AwarenessStates()
        self.journal = journal
        self.log_length = log_length  # updates logged since the last snapshot
        self.on_log_grew = on_log_grew
        self.on_broadcast = on_broadcast
        self.on_awareness = on_awareness  # (draft, awareness update) of this node's peers
        self.updates_in = 0
        self.denied_in = 0  # updates refused: from read-only peers, or any peer's once the draft is read-only
        self.read_only = False  # set when the draft is published: every peer's updates are refused
        self._delta: bytes | None = None
        self._sub = doc.observe(self._capture)

    def _capture(self, event: TransactionEvent) -> None:
        self._delta = event.update

    # -- membership -----------------------------------------------------

    def join(self, peer: Peer) -> None:
        """Attach ``peer`` and greet it: our state vector, then who is here."""
        self.peers.add(peer)
        peer.send(Outgoing(codec.sync_step1(self.doc.get_state())))
        live = self.awareness.live()
        if live:
            peer.send(Outgoing(codec.awareness_message(encode_awareness(live))))

    def leave(self, peer: Peer) -> None:
        """Detach ``peer``; its carets vanish for everyone in one message."""
        self.peers.discard(peer)
        gone = self.awareness.remove_owner(peer)
        if gone:
            self._awareness_changed(encode_awareness(gone), None)

    # -- inbound --------------------------------------------------------

    def receive(self, peer: Peer, frame: bytes) -> None:
        """Handle one frame from ``peer``: one or more y-protocols messages."""
        try:
            for msg in codec.decode_messages(frame):
                self._dispatch(peer, msg)
        except codec.UnknownMessage as exc:
            raise Closing(CloseCode.UNKNOWN_MESSAGE, str(exc)) from exc
        except codec.DecodeError as exc:
            raise Closing(CloseCode.BAD_FRAME, str(exc)) from exc

    def _dispatch(self, peer: Peer, msg: codec.Message) -> None:
        if msg.type == codec.MessageType.SYNC:
            if msg.step == codec.SyncStep.STEP1:
                self._answer_step1(peer, msg.payload)
            else:
                self.apply_client_update(peer, msg.payload)
        elif msg.type == codec.MessageType.AWARENESS:
            self.apply_awareness(peer, msg.payload)
        elif msg.type == codec.MessageType.QUERY_AWARENESS:
            live = self.awareness.live()
            peer.send(Outgoing(codec.awareness_message(encode_awareness(live))))
        else:  # AUTH from a client: the hub authenticates at the handshake.
            raise Closing(CloseCode.UNKNOWN_MESSAGE, "auth messages are not taken from clients here")

    def _answer_step1(self, peer: Peer, state_vector: bytes) -> None:
        try:
            diff = self.doc.get_update(state_vector)
        except BaseException as exc:
            if not refused_by_yrs(exc):
                raise
            raise Closing(CloseCode.BAD_UPDATE, "state vector does not decode") from exc
        peer.send(Outgoing(codec.sync_step2(diff)))

    def apply_client_update(self, peer: Peer, update: bytes) -> None:
        if peer.read_only or self.read_only:
            if update != EMPTY_UPDATE:
                self.denied_in += 1
                why = "read-only: update not applied" if peer.read_only else "published: the draft is read-only"
                peer.send(Outgoing(codec.permission_denied(why)))
            return
        if not self.journal.has_room():
            raise Closing(CloseCode.TRY_AGAIN_LATER, "store backlog is full")
        delta = self._apply(update)
        self.updates_in += 1
        # What integrated is logged. An update that integrated nothing is a
        # duplicate or waits for missing dependencies, and Yrs cannot say
        # which, so it is logged as it came: the client will count it as
        # stored. (Duplicates cost a row until compaction folds them.) The
        # empty update is queued without data so stored counts stay in order.
        logged = delta if delta is not None else None if update == EMPTY_UPDATE else update
        try:
            self.journal.append(self.key, logged, peer)
        except JournalFull as exc:  # has_room() said yes a moment ago
            raise Closing(CloseCode.TRY_AGAIN_LATER, "store backlog is full") from exc
        if delta is not None:
            self.log_length += 1
            self.broadcast(codec.sync_update(delta), peer)
            if self.on_broadcast is not None:
                self.on_broadcast(self, delta, Origin.CLIENT)
            if self.on_log_grew is not None:
                self.on_log_grew(self)

    def apply_remote_update(self, update: bytes, origin: Origin) -> None:
        """An update from the broker or a worker: apply and relay, never store."""
        delta = self._apply(update)
        if delta is not None:
            self.broadcast(codec.sync_update(delta), None)

    def _apply(self, update: bytes) -> bytes | None:
        self._delta = None
        try:
            self.doc.apply_update(update)
        except BaseException as exc:
            if not refused_by_yrs(exc):
                raise
            raise Closing(CloseCode.BAD_UPDATE, "update does not decode") from exc
        delta, self._delta = self._delta, None
        return delta

    def apply_awareness(self, peer: Peer, payload: bytes) -> None:
        try:
            entries = decode_awareness(payload)
        except codec.DecodeError as exc:
            raise Closing(CloseCode.BAD_FRAME, f"awareness: {exc}") from exc
        changed = self.awareness.apply(peer, entries)
        if changed:
            self._awareness_changed(encode_awareness(changed), peer)

    def _awareness_changed(self, update: bytes, exclude: Peer | None) -> None:
        self.broadcast(codec.awareness_message(update), exclude)
        if self.on_awareness is not None:
            self.on_awareness(self, update)

    # -- outbound -------------------------------------------------------

    def broadcast(self, payload: bytes, exclude: Peer | None) -> None:
        """Send ``payload`` to every peer but ``exclude``; encoded once."""
        out = Outgoing(payload)
        for peer in tuple(self.peers):
            if peer is not exclude:
                peer.send(out)

    def close(self) -> None:
        self.doc.unobserve(self._sub)
