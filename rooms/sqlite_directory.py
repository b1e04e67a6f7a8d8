"""SQLite directory: the embedded default. Single node only.

It shares the store's SQLite file (the tables come from the same migrations)
but has its own connection and worker thread, so directory reads never wait
behind a journal commit on the same thread. SQLite serialises the writers;
``busy_timeout`` makes one wait for the other instead of failing.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from typing import Any

import orjson

from rooms.directory import (
    AuditEvent,
    AuditRecord,
    Changes,
    InvalidEntry,
    Room,
    Unit,
    User,
    check_room,
    check_user,
    roles_from_text,
    roles_text,
)
from rooms.sqlite_store import SqliteDatabase

__all__ = ["SqliteDirectory"]


NOW = "((julianday('now') - 2440587.5) * 86400.0)"
USER_COLUMNS = "id, name, unit, roles, disabled"
UNIT_ORDER = (
    "ORDER BY CASE kind WHEN 'city_outlet' THEN 0 WHEN 'park' THEN 1 WHEN 'subdistrict' THEN 2 ELSE 3 END, code"
)


def _user(row: Sequence[Any]) -> User:
    return User(row[0], row[1], row[2], roles_from_text(row[3]), bool(row[4]))


class SqliteDirectory(SqliteDatabase):
    """Directory backed by the SQLite file (see ``rooms.directory.Directory``)."""

    what = "directory"
    thread_name = "sqlite-directory"

    def _translate(self, exc: sqlite3.Error) -> Exception:
        if isinstance(exc, sqlite3.IntegrityError):
            return InvalidEntry(f"sqlite: {exc}")
        return super()._translate(exc)

    # -- units ----------------------------------------------------------

    async def units(self) -> list[Unit]:
        def read(db: sqlite3.Connection) -> list[Unit]:
            rows = db.execute(f"SELECT code, name_zh, name_en, kind, note FROM units {UNIT_ORDER}").fetchall()
            return [Unit(*row) for row in rows]

        return await self._run(read)

    async def put_units(self, units: Sequence[Unit]) -> int:
        def write(db: sqlite3.Connection) -> int:
            before = db.total_changes
            db.executemany(
                "INSERT INTO units (code, name_zh, name_en, kind, note) VALUES (?, ?, ?, ?, ?) "
                "ON CONFLICT (code) DO NOTHING",
                [tuple(u) for u in units],
            )
            return db.total_changes - before

        return await self._write(write)

    # -- users ----------------------------------------------------------

    async def user(self, user_id: str) -> User | None:
        def read(db: sqlite3.Connection) -> User | None:
            row = db.execute(f"SELECT {USER_COLUMNS} FROM users WHERE id = ?", (user_id,)).fetchone()
            return _user(row) if row else None

        return await self._run(read)

    async def users(self, unit: str | None = None) -> list[User]:
        def read(db: sqlite3.Connection) -> list[User]:
            if unit is None:
                rows = db.execute(f"SELECT {USER_COLUMNS} FROM users ORDER BY id").fetchall()
            else:
                rows = db.execute(f"SELECT {USER_COLUMNS} FROM users WHERE unit = ? ORDER BY id", (unit,)).fetchall()
            return [_user(r) for r in rows]

        return await self._run(read)

    async def put_users(self, users: Sequence[User]) -> int:
        for u in users:
            check_user(u)

        def write(db: sqlite3.Connection) -> int:
            before = db.total_changes
            db.executemany(
                "INSERT INTO users (id, name, unit, roles, disabled) VALUES (?, ?, ?, ?, ?) "
                "ON CONFLICT (id) DO NOTHING",
                [(u.id, u.name, u.unit, roles_text(u.roles), int(u.disabled)) for u in users],
            )
            return db.total_changes - before

        return await self._write(write)

    async def set_roles(self, user_id: str, roles: frozenset[str], audit: AuditEvent) -> User | None:
        return await self._change_user(user_id, "roles = ?", (roles_text(roles),), audit)

    async def set_disabled(self, user_id: str, disabled: bool, audit: AuditEvent) -> User | None:
        return await self._change_user(user_id, "disabled = ?", (int(disabled),), audit)

    async def _change_user(
        self, user_id: str, assignment: str, values: tuple[Any, ...], audit: AuditEvent
    ) -> User | None:
        def write(db: sqlite3.Connection) -> User | None:
            cur = db.execute(f"UPDATE users SET {assignment}, changed_at = {NOW} WHERE id = ?", (*values, user_id))
            if cur.rowcount == 0:
                return None
            _insert_audit(db, [audit])
            row = db.execute(f"SELECT {USER_COLUMNS} FROM users WHERE id = ?", (user_id,)).fetchone()
            return _user(row)

        return await self._write(write)

    # -- rooms ----------------------------------------------------------

    async def room(self, room_id: str) -> Room | None:
        def read(db: sqlite3.Connection) -> Room | None:
            db.execute("BEGIN")
            try:
                row = db.execute("SELECT id, title, owner_unit, status FROM rooms WHERE id = ?", (room_id,)).fetchone()
                members = db.execute("SELECT unit FROM room_members WHERE room = ?", (room_id,)).fetchall()
            finally:
                db.execute("COMMIT")
            if row is None:
                return None
            return Room(row[0], row[1], row[2], frozenset(m[0] for m in members), row[3])

        return await self._run(read)

    async def rooms(self, unit: str | None = None) -> list[Room]:
        def read(db: sqlite3.Connection) -> list[Room]:
            db.execute("BEGIN")
            try:
                if unit is None:
                    rows = db.execute("SELECT id, title, owner_unit, status FROM rooms ORDER BY id").fetchall()
                else:
                    rows = db.execute(
                        "SELECT id, title, owner_unit, status FROM rooms WHERE owner_unit = ? "
                        "OR id IN (SELECT room FROM room_members WHERE unit = ?) ORDER BY id",
                        (unit, unit),
                    ).fetchall()
                return _with_members(db, rows)
            finally:
                db.execute("COMMIT")

        return await self._run(read)

    async def put_room(self, room: Room) -> None:
        check_room(room)

        def write(db: sqlite3.Connection) -> None:
            db.execute(
                f"INSERT INTO rooms (id, title, owner_unit, changed_at, created_at) VALUES (?, ?, ?, {NOW}, {NOW}) "
                "ON CONFLICT (id) DO UPDATE SET title = excluded.title, owner_unit = excluded.owner_unit, "
                "changed_at = excluded.changed_at",
                (room.id, room.title, room.owner_unit),
            )
            db.execute("DELETE FROM room_members WHERE room = ?", (room.id,))
            db.executemany(
                "INSERT INTO room_members (room, unit) VALUES (?, ?)",
                [(room.id, u) for u in sorted(room.member_units)],
            )

        await self._write(write)

    # -- changes and audit ----------------------------------------------

    async def changes(self, since: float) -> Changes:
        def read(db: sqlite3.Connection) -> Changes:
            db.execute("BEGIN")
            try:
                now = float(db.execute(f"SELECT {NOW}").fetchone()[0])
                users = db.execute(
                    f"SELECT {USER_COLUMNS} FROM users WHERE changed_at > ? ORDER BY changed_at", (since,)
                ).fetchall()
                rows = db.execute(
                    "SELECT id, title, owner_unit, status FROM rooms WHERE changed_at > ? ORDER BY changed_at", (since,)
                ).fetchall()
                rooms = _with_members(db, rows)
            finally:
                db.execute("COMMIT")
            return Changes([_user(u) for u in users], rooms, now)

        return await self._run(read)

    async def append_audit(self, events: Sequence[AuditEvent]) -> None:
        if events:
            await self._write(lambda db: _insert_audit(db, events))

    async def audit_trail(
        self,
        *,
        actor: str | None = None,
        action: str | None = None,
        after_id: int = 0,
        limit: int = 100,
    ) -> list[AuditRecord]:
        where = ["id > ?"]
        args: list[Any] = [after_id]
        if actor is not None:
            where.append("actor = ?")
            args.append(actor)
        if action is not None:
            where.append("action = ?")
            args.append(action)

        def read(db: sqlite3.Connection) -> list[AuditRecord]:
            rows = db.execute(
                "SELECT id, action, at, actor, unit, client, target, detail, node FROM audit_log "
                f"WHERE {' AND '.join(where)} ORDER BY id LIMIT ?",
                (*args, limit),
            ).fetchall()
            return [
                AuditRecord(int(r[0]), AuditEvent(r[1], float(r[2]), r[3], r[4], r[5], r[6], orjson.loads(r[7]), r[8]))
                for r in rows
            ]

        return await self._run(read)


def _with_members(db: sqlite3.Connection, rows: list[Any]) -> list[Room]:
    members: dict[str, set[str]] = {r[0]: set() for r in rows}
    ids = list(members)
    for start in range(0, len(ids), 500):
        chunk = ids[start : start + 500]
        marks = ",".join("?" * len(chunk))
        for room_id, unit in db.execute(f"SELECT room, unit FROM room_members WHERE room IN ({marks})", chunk):
            members[room_id].add(unit)
    return [Room(r[0], r[1], r[2], frozenset(members[r[0]]), r[3]) for r in rows]


def _insert_audit(db: sqlite3.Connection, events: Sequence[AuditEvent]) -> None:
    db.executemany(
        "INSERT INTO audit_log (at, node, actor, unit, client, action, target, detail) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
        [
            (e.at, e.node, e.actor, e.unit, e.client, e.action, e.target, orjson.dumps(dict(e.detail)).decode())
            for e in events
        ],
    )
