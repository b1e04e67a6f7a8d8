"""The authenticated sockets open on this node, and what keeps them honest.

Each socket has a ``Session``: who (``Identity``), which draft, from where,
its message and byte buckets, and its user's shared ``UserState`` (buckets for
the user's messages, bytes and connects, and the user's open sessions).

``Sessions`` is an async context manager around one watcher task that runs
every ``interval`` seconds (default 1 s) and costs one directory query:
``changes(since)`` returns only the users and rooms changed since the last
poll (with an overlap, see ``rooms.directory.Directory.changes``). For each:
- a disabled user's sessions close with 4403;
- a user whose unit or roles changed has their sessions closed with 4402, so
  they reconnect with the new rights;
- sessions in a room whose member units no longer include their unit close
  with 4403;
- sessions whose room was closed or archived (writers) or reopened (read-only
  sessions of writers) close with 4402, so they reconnect with the rights the
  session's state gives.
So a disable reaches every socket of the user on every node within about
``interval`` seconds, through the shared database, with no broker.

Each session also has a timer at its token's ``exp``: when it fires the
socket closes with 4401 ("authenticate again").

Limits are per node: a user on N nodes may hold N times the connections.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Mapping
from types import TracebackType
from typing import TYPE_CHECKING, TypeVar

from hub.audit import AuditTrail
from hub.auth import Identity, can_open_room, may_edit_room
from hub.limits import BURST_SECONDS, Limits, TokenBucket
from rooms.directory import Changes, Directory, Room, User
from rooms.errors import Closing
from rooms.store import DraftKey, StoreUnavailable
from schema.close_codes import CloseCode

if TYPE_CHECKING:
    from hub.connection import Connection

__all__ = ["Session", "Sessions", "UserState"]

log = logging.getLogger("tongpin.sessions")

POLL_OVERLAP = 5.0  # seconds of changes seen again by each poll (late commits)
CACHE_SIZE = 10_000
FAR_FUTURE = 1e11  # a "since" no change can be after: the first poll only learns the time

V = TypeVar("V")

REVOKED = {  # close reasons the client sees
    "token_expired": "token expired: authenticate again",
    "user_disabled": "user disabled",
    "rights_changed": "your roles or unit changed: reconnect",
    "not_a_member": "your unit is no longer a member of this planning session",
    "session_state": "the planning session was closed, archived or reopened: reconnect",
}


class UserState:
    """What one user shares across their sessions on this node."""

    __slots__ = ("bytes", "connects", "messages", "sessions")

    def __init__(self, limits: Limits, now: float) -> None:
        self.messages = TokenBucket(limits.user_msg_rate, limits.user_msg_rate * BURST_SECONDS, now=now)
        self.bytes = TokenBucket(limits.user_byte_rate, limits.byte_burst(limits.user_byte_rate), now=now)
        self.connects = TokenBucket(limits.connect_rate, limits.connect_rate * BURST_SECONDS, now=now)
        self.sessions: set[Session] = set()

    def idle(self, now: float) -> bool:
        return not self.sessions and self.messages.full(now) and self.bytes.full(now) and self.connects.full(now)


class Session:
    """One authenticated socket on one draft."""

    __slots__ = (
        "__weakref__",
        "_timer",
        "bytes",
        "bytes_in",
        "client",
        "conn",
        "denied",
        "frames",
        "identity",
        "key",
        "messages",
        "opened",
        "owner",
        "read_only",
        "sessions",
        "user",
    )

    def __init__(
        self,
        sessions: Sessions,
        identity: Identity,
        user: User | None,
        key: DraftKey,
        client: str | None,
        owner: UserState | None,
        now: float,
        room: Room | None = None,
    ) -> None:
        limits = sessions.limits
        self.sessions = sessions
        self.identity = identity
        self.user = user  # the directory record the rights came from (None: anonymous)
        self.key = key
        self.client = client
        self.owner = owner
        self.messages = TokenBucket(limits.msg_rate, limits.msg_rate * BURST_SECONDS, now=now)
        self.bytes = TokenBucket(limits.byte_rate, limits.byte_burst(limits.byte_rate), now=now)
        self.conn: Connection | None = None
        self.frames = 0
        self.bytes_in = 0
        self.denied = 0
        self.opened = time.time()
        self._timer: asyncio.TimerHandle | None = None
        # Roles that may not edit, or a closed or archived planning session: updates are refused.
        self.read_only = not may_edit_room(identity, room)

    def attach(self, conn: Connection) -> None:
        """Bind the socket; from now on the session can close it."""
        self.conn = conn
        self.sessions._audit("join", self, detail={"read_only": self.read_only})
        remaining = self.identity.exp - time.time()
        if remaining < 1e9:  # anonymous sessions never expire
            loop = asyncio.get_running_loop()
            self._timer = loop.call_later(max(0.0, remaining), self.revoke, CloseCode.AUTH_EXPIRED, "token_expired")

    def charge(self, size: int) -> bool:
        """Count one inbound frame; False if a limit closed the socket instead."""
        self.frames += 1
        self.bytes_in += size
        now = time.monotonic()
        owner = self.owner
        if (
            self.messages.take(1, now)
            and self.bytes.take(size, now)
            and (owner is None or (owner.messages.take(1, now) and owner.bytes.take(size, now)))
        ):
            return True
        self.sessions.rate_limited += 1
        self.sessions._audit("refuse", self, detail={"reason": "rate_limited", "frames": self.frames})
        if self.conn is not None:
            reason = "too many messages or bytes per second; back off"
            self.conn.close_soon(CloseCode.RATE_LIMITED, reason, drop_input=True)
        return False

    def on_denied(self) -> None:
        """A write of this read-only session was refused (permission denied)."""
        self.denied += 1
        if self.denied == 1:  # one row per socket, not one per refused keystroke
            self.sessions._audit("refuse", self, detail={"reason": "read_only"})

    def revoke(self, code: CloseCode, reason: str) -> None:
        """Close the socket because its rights ended (expired, disabled, changed)."""
        conn = self.conn
        if conn is None or conn.close_code is not None:
            return
        self.sessions.revoked += 1
        self.sessions._audit("revoke", self, detail={"reason": reason, "code": int(code)})
        conn.close_soon(code, REVOKED.get(reason, "not allowed any more"))

    def close(self) -> None:
        """The socket is gone: forget it, and record the leave."""
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        if self.sessions._forget(self) and self.conn is not None:
            code = self.conn.close_code
            detail = {"code": code, "frames": self.frames, "bytes": self.bytes_in, "denied": self.denied}
            self.sessions._audit("leave", self, detail=detail)


class Sessions:
    def __init__(
        self,
        directory: Directory,
        audit: AuditTrail,
        limits: Limits,
        *,
        interval: float = 1.0,
        audit_anonymous: bool = False,
    ) -> None:
        self.directory = directory
        self.audit = audit
        self.limits = limits
        self.interval = interval
        self.audit_anonymous = audit_anonymous
        self.users: dict[str, UserState] = {}
        self.by_room: dict[str, set[Session]] = {}
        self.open_sessions = 0
        self.rate_limited = 0
        self.refused = 0
        self.revoked = 0
        self._user_cache: dict[str, User] = {}
        self._room_cache: dict[str, Room] = {}
        self._since = FAR_FUTURE
        self._task: asyncio.Task[None] | None = None
        self.polls = 0

    # -- lookups, cached and kept fresh by the watcher --------------------

    async def lookup_user(self, user_id: str) -> User | None:
        user = self._user_cache.get(user_id)
        if user is None:
            user = await self.directory.user(user_id)
            if user is not None:
                _put(self._user_cache, user_id, user)
        return user

    async def lookup_room(self, room_id: str) -> Room | None:
        room = self._room_cache.get(room_id)
        if room is None:
            room = await self.directory.room(room_id)
            if room is not None:
                _put(self._room_cache, room_id, room)
        return room

    # -- admission ---------------------------------------------------------

    def admit(
        self, identity: Identity, user: User | None, key: DraftKey, client: str | None, room: Room | None = None
    ) -> Session:
        """Register a session (read-only as ``room`` says), or raise ``Closing`` for a per-user limit."""
        now = time.monotonic()
        owner: UserState | None = None
        if not identity.anonymous:
            owner = self.users.get(identity.sub)
            if owner is None:
                owner = self.users[identity.sub] = UserState(self.limits, now)
            if not owner.connects.take(1, now):
                raise Closing(CloseCode.RATE_LIMITED, "too many connects per second; back off")
            if len(owner.sessions) >= self.limits.max_connections_per_user:
                raise Closing(
                    CloseCode.TOO_MANY_CONNECTIONS,
                    f"at most {self.limits.max_connections_per_user} connections per user on one node",
                )
        session = Session(self, identity, user, key, client, owner, now, room)
        if owner is not None:
            owner.sessions.add(session)
        self.by_room.setdefault(key.room, set()).add(session)
        self.open_sessions += 1
        return session

    def _forget(self, session: Session) -> bool:
        room = self.by_room.get(session.key.room)
        if room is None or session not in room:
            return False
        room.discard(session)
        if not room:
            del self.by_room[session.key.room]
        if session.owner is not None:
            session.owner.sessions.discard(session)
        self.open_sessions -= 1
        return True

    def sessions_of(self, user_id: str) -> list[Session]:
        owner = self.users.get(user_id)
        return list(owner.sessions) if owner is not None else []

    def _audit(self, action: str, session: Session, *, detail: Mapping[str, object]) -> None:
        identity = session.identity
        if identity.anonymous and not self.audit_anonymous and action in ("join", "leave"):
            return
        self.audit.record(
            action,
            actor=None if identity.anonymous else identity.sub,
            unit=identity.unit or None,
            client=session.client,
            target=str(session.key),
            detail=detail,
        )

    # -- the watcher ---------------------------------------------------------

    async def __aenter__(self) -> Sessions:
        assert self._task is None, "sessions started twice"
        self._task = asyncio.get_running_loop().create_task(self._watch(), name="sessions watcher")
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    async def _watch(self) -> None:
        while True:
            await self.poll()
            self._prune()
            await asyncio.sleep(self.interval)

    async def poll(self) -> None:
        """One look at the directory's changes; apply them to open sessions."""
        since = self._since - POLL_OVERLAP if self._since < FAR_FUTURE else FAR_FUTURE
        try:
            changes = await self.directory.changes(since)
        except StoreUnavailable as exc:
            log.warning("directory poll failed; open sessions keep their rights until it answers: %s", exc)
            return
        self.polls += 1
        self._since = changes.now
        self.apply(changes)

    def apply(self, changes: Changes) -> None:
        for user in changes.users:
            if user.id in self._user_cache:
                self._user_cache[user.id] = user
            for session in self.sessions_of(user.id):
                if session.user is None or session.user == user:
                    continue
                if user.disabled:
                    session.revoke(CloseCode.FORBIDDEN, "user_disabled")
                else:
                    session.revoke(CloseCode.RIGHTS_CHANGED, "rights_changed")
        for room in changes.rooms:
            if room.id in self._room_cache:
                self._room_cache[room.id] = room
            for session in list(self.by_room.get(room.id, ())):
                if not can_open_room(session.identity, room):
                    session.revoke(CloseCode.FORBIDDEN, "not_a_member")
                elif session.read_only == may_edit_room(session.identity, room):
                    session.revoke(CloseCode.RIGHTS_CHANGED, "session_state")

    def _prune(self) -> None:
        now = time.monotonic()
        idle = [sub for sub, state in self.users.items() if state.idle(now)]
        for sub in idle:
            del self.users[sub]


def _put(cache: dict[str, V], key: str, value: V) -> None:
    if len(cache) >= CACHE_SIZE:
        for old in list(cache)[: CACHE_SIZE // 2]:  # oldest half: dicts keep insertion order
            del cache[old]
    cache[key] = value
