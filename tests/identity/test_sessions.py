"""Sessions and the audit writer over a real SQLite directory, with a recording stand-in for the socket.

The stand-in (``RecordingConn``) replaces only the socket: it records the close
a session asks for. Real sockets are exercised in ``test_refusals.py``.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Sequence
from pathlib import Path

import pytest

from hub.audit import AuditTrail
from hub.auth import Identity
from hub.limits import Limits
from hub.sessions import Session, Sessions
from rooms.directory import AuditEvent, Room
from rooms.errors import Closing
from rooms.seed import seed
from rooms.sqlite_directory import SqliteDirectory
from rooms.store import DraftKey, StoreUnavailable
from schema.close_codes import CloseCode

KEY = DraftKey("typhoon-drill", "d1")


class RecordingConn:
    def __init__(self) -> None:
        self.close_code: int | None = None
        self.closed = asyncio.Event()

    def close_soon(self, code: int, reason: str, *, drop_input: bool = False) -> None:
        self.close_code = code
        self.closed.set()


@pytest.fixture
async def directory(tmp_path: Path) -> AsyncIterator[SqliteDirectory]:
    d = SqliteDirectory(tmp_path / "tongpin.sqlite3")
    await d.open()
    await seed(d, demo=True)
    try:
        yield d
    finally:
        await d.close()


@pytest.fixture
async def sessions(directory: SqliteDirectory) -> AsyncIterator[Sessions]:
    async with AuditTrail(directory, "node-t", interval=0.05) as audit:
        limits = Limits(msg_rate=10, user_msg_rate=15, max_connections_per_user=2, connect_rate=1)
        yield Sessions(directory, audit, limits)


async def open_session(sessions: Sessions, user_id: str, *, ttl: float = 3600, key: DraftKey = KEY) -> Session:
    user = await sessions.lookup_user(user_id)
    assert user is not None
    session = sessions.admit(Identity.of(user, time.time() + ttl), user, key, "127.0.0.1")
    session.attach(RecordingConn())  # type: ignore[arg-type]
    return session


def conn_of(session: Session) -> RecordingConn:
    conn = session.conn
    assert isinstance(conn, RecordingConn)
    return conn


async def test_per_user_connection_and_connect_limits(sessions: Sessions) -> None:
    a = await open_session(sessions, "humen-editor")
    await open_session(sessions, "humen-editor")
    with pytest.raises(Closing) as refused:
        await open_session(sessions, "humen-editor")
    assert refused.value.code == CloseCode.TOO_MANY_CONNECTIONS
    a.close()
    await open_session(sessions, "humen-editor")  # a slot is free again
    # connect_rate 1/s with a 4 s burst: four connects spent it, the fifth is too fast.
    with pytest.raises(Closing) as fast:
        await open_session(sessions, "humen-editor")
    assert fast.value.code == CloseCode.RATE_LIMITED


async def test_message_rates_per_connection_and_per_user(sessions: Sessions) -> None:
    one = await open_session(sessions, "humen-reporter")
    assert all(one.charge(10) for _ in range(40))  # 10/s, 4 s burst
    assert not one.charge(10)
    assert conn_of(one).close_code == CloseCode.RATE_LIMITED

    a = await open_session(sessions, "changan-reporter")
    b = await open_session(sessions, "changan-reporter")
    # Each connection may send 40 at once, but the user only 60 (15/s, 4 s burst).
    assert all(a.charge(1) for _ in range(35)) and all(b.charge(1) for _ in range(25))
    assert not b.charge(1)
    assert conn_of(b).close_code == CloseCode.RATE_LIMITED and conn_of(a).close_code is None


async def test_disable_role_and_membership_changes_revoke(sessions: Sessions, directory: SqliteDirectory) -> None:
    await sessions.poll()  # learns the directory's clock
    disabled = await open_session(sessions, "humen-editor")
    changed = await open_session(sessions, "changan-editor")
    removed = await open_session(sessions, "shatian-editor")
    untouched = await open_session(sessions, "humen-reporter")
    stamp = AuditEvent("disable", time.time())
    await directory.set_disabled("humen-editor", True, stamp)
    await directory.set_roles("changan-editor", frozenset({"viewer"}), stamp)
    room = await directory.room("typhoon-drill")
    assert room is not None
    await directory.put_room(Room(room.id, room.title, room.owner_unit, room.member_units - {"shatian"}))
    await sessions.poll()
    assert conn_of(disabled).close_code == CloseCode.FORBIDDEN
    assert conn_of(changed).close_code == CloseCode.RIGHTS_CHANGED
    assert conn_of(removed).close_code == CloseCode.FORBIDDEN
    assert conn_of(untouched).close_code is None
    # The cache serves the new record at once; polling the same changes again is a no-op.
    user = await sessions.lookup_user("humen-editor")
    assert user is not None and user.disabled
    again = await open_session(sessions, "humen-reporter")
    await sessions.poll()
    assert conn_of(again).close_code is None


async def test_token_expiry_closes_with_authenticate_again(sessions: Sessions) -> None:
    session = await open_session(sessions, "humen-editor", ttl=0.05)
    await asyncio.wait_for(conn_of(session).closed.wait(), 5)
    assert conn_of(session).close_code == CloseCode.AUTH_EXPIRED


async def test_leave_is_recorded_once_and_state_is_pruned(sessions: Sessions, directory: SqliteDirectory) -> None:
    session = await open_session(sessions, "humen-viewer")
    session.on_denied()
    session.on_denied()
    session.close()
    session.close()
    await sessions.audit.flush()
    trail = [r.event for r in await directory.audit_trail(actor="humen-viewer")]
    assert [e.action for e in trail] == ["join", "refuse", "leave"]
    assert trail[0].detail == {"read_only": True} and trail[2].detail["denied"] == 2
    assert all(e.client == "127.0.0.1" and e.node == "node-t" and e.target == "typhoon-drill/d1" for e in trail)
    assert sessions.open_sessions == 0 and sessions.by_room == {}


class CountingDirectory(SqliteDirectory):
    """The real SQLite directory, counting audit writes and failing the first ``fail`` of them."""

    def __init__(self, path: Path, fail: int = 0) -> None:
        super().__init__(path)
        self.calls = 0
        self.fail = fail

    async def append_audit(self, events: Sequence[AuditEvent]) -> None:
        self.calls += 1
        if self.calls <= self.fail:
            raise StoreUnavailable("down for this test")
        await super().append_audit(events)


async def test_audit_is_written_in_batches_off_the_hot_path(tmp_path: Path) -> None:
    directory = CountingDirectory(tmp_path / "t.sqlite3", fail=2)
    await directory.open()
    try:
        async with AuditTrail(directory, "n", batch=500, interval=0.05) as audit:
            for i in range(1200):
                audit.record("join", actor="u", target=f"r/d{i}")  # never awaits
            await audit.flush()
            assert audit.written == 1200 and audit.dropped == 0
            assert directory.calls <= 2 + 4  # two failures, then a few batches: never one write per event
        trail = await directory.audit_trail(limit=2000)
        assert [r.event.target for r in trail] == [f"r/d{i}" for i in range(1200)]
    finally:
        await directory.close()


async def test_a_full_audit_backlog_drops_and_counts(tmp_path: Path) -> None:
    directory = SqliteDirectory(tmp_path / "t.sqlite3")
    await directory.open()
    try:
        audit = AuditTrail(directory, "n", max_backlog=10)  # not started: nothing drains it
        for _ in range(25):
            audit.record("refuse")
        assert audit.backlog == 10 and audit.dropped == 15
    finally:
        await directory.close()
