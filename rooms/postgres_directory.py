"""PostgreSQL directory: for clusters; every node reads and writes the same tables.

The tables come from the store's migrations (``schema/migrations/postgres``),
applied by ``tongpin migrate`` or by the store when it opens; this class only
checks that they are there. asyncpg errors are translated at this edge:
constraint violations to ``InvalidEntry``, everything else to
``StoreUnavailable``.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Sequence
from typing import Any

import asyncpg  # type: ignore[import-untyped]
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
from rooms.store import StoreUnavailable

__all__ = ["PostgresDirectory"]

USER_COLUMNS = "id, name, unit, roles, disabled"
UNIT_ORDER = (
    "ORDER BY CASE kind WHEN 'city_outlet' THEN 0 WHEN 'park' THEN 1 WHEN 'subdistrict' THEN 2 ELSE 3 END, code"
)


def _user(row: Any) -> User:
    return User(row["id"], row["name"], row["unit"], roles_from_text(row["roles"]), bool(row["disabled"]))


def _count(status: str) -> int:
    return int(status.rsplit(" ", 1)[-1])


class PostgresDirectory:
    """Directory backed by PostgreSQL (see ``rooms.directory.Directory``)."""

    def __init__(self, url: str, *, min_size: int = 1, max_size: int = 4) -> None:
        self.url = url
        self.min_size = min_size
        self.max_size = max_size
        self._pool: Any = None

    @contextlib.asynccontextmanager
    async def _conn(self) -> AsyncIterator[Any]:
        if self._pool is None:
            raise StoreUnavailable("directory is closed")
        try:
            async with self._pool.acquire(timeout=5.0) as conn:
                yield conn
        except asyncpg.IntegrityConstraintViolationError as exc:
            raise InvalidEntry(f"postgres: {exc}") from exc
        except (asyncpg.PostgresError, asyncpg.InterfaceError, OSError, TimeoutError) as exc:
            raise StoreUnavailable(f"postgres: {exc}") from exc

    async def open(self) -> None:
        try:
            self._pool = await asyncpg.create_pool(
                self.url, min_size=self.min_size, max_size=self.max_size, timeout=5.0, command_timeout=10
            )
        except (asyncpg.PostgresError, asyncpg.InterfaceError, OSError, TimeoutError) as exc:
            raise StoreUnavailable(f"postgres: {exc}") from exc
        async with self._conn() as conn:
            missing = await conn.fetchval("SELECT to_regclass('audit_log') IS NULL OR to_regclass('users') IS NULL")
        if missing:
            await self.close()
            raise StoreUnavailable("the identity tables are missing: run `tongpin migrate`")

    async def close(self) -> None:
        pool, self._pool = self._pool, None
        if pool is not None:
            await pool.close()

    # -- units ----------------------------------------------------------

    async def units(self) -> list[Unit]:
        async with self._conn() as conn:
            rows = await conn.fetch(f"SELECT code, name_zh, name_en, kind, note FROM units {UNIT_ORDER}")
        return [Unit(*row) for row in rows]

    async def put_units(self, units: Sequence[Unit]) -> int:
        if not units:
            return 0
        async with self._conn() as conn:
            status = await conn.execute(
                "INSERT INTO units (code, name_zh, name_en, kind, note) "
                "SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[]) "
                "ON CONFLICT (code) DO NOTHING",
                *[list(col) for col in zip(*units, strict=True)],
            )
        return _count(status)

    # -- users ----------------------------------------------------------

    async def user(self, user_id: str) -> User | None:
        async with self._conn() as conn:
            row = await conn.fetchrow(f"SELECT {USER_COLUMNS} FROM users WHERE id = $1", user_id)
        return _user(row) if row is not None else None

    async def users(self, unit: str | None = None) -> list[User]:
        async with self._conn() as conn:
            if unit is None:
                rows = await conn.fetch(f"SELECT {USER_COLUMNS} FROM users ORDER BY id")
            else:
                rows = await conn.fetch(f"SELECT {USER_COLUMNS} FROM users WHERE unit = $1 ORDER BY id", unit)
        return [_user(r) for r in rows]

    async def put_users(self, users: Sequence[User]) -> int:
        for u in users:
            check_user(u)
        if not users:
            return 0
        async with self._conn() as conn:
            status = await conn.execute(
                "INSERT INTO users (id, name, unit, roles, disabled) "
                "SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::bool[]) "
                "ON CONFLICT (id) DO NOTHING",
                [u.id for u in users],
                [u.name for u in users],
                [u.unit for u in users],
                [roles_text(u.roles) for u in users],
                [u.disabled for u in users],
            )
        return _count(status)

    async def set_roles(self, user_id: str, roles: frozenset[str], audit: AuditEvent) -> User | None:
        return await self._change_user(user_id, "roles = $2", roles_text(roles), audit)

    async def set_disabled(self, user_id: str, disabled: bool, audit: AuditEvent) -> User | None:
        return await self._change_user(user_id, "disabled = $2", disabled, audit)

    async def _change_user(self, user_id: str, assignment: str, value: object, audit: AuditEvent) -> User | None:
        async with self._conn() as conn, conn.transaction():
            row = await conn.fetchrow(
                f"UPDATE users SET {assignment}, changed_at = clock_timestamp() WHERE id = $1 RETURNING {USER_COLUMNS}",
                user_id,
                value,
            )
            if row is None:
                return None
            await _insert_audit(conn, [audit])
        return _user(row)

    # -- rooms ----------------------------------------------------------

    async def room(self, room_id: str) -> Room | None:
        rooms = await self._rooms("WHERE r.id = $1", room_id)
        return rooms[0] if rooms else None

    async def rooms(self, unit: str | None = None) -> list[Room]:
        if unit is None:
            return await self._rooms("")
        return await self._rooms(
            "WHERE r.owner_unit = $1 OR r.id IN (SELECT room FROM room_members WHERE unit = $1)", unit
        )

    async def _rooms(self, where: str, *args: object) -> list[Room]:
        async with self._conn() as conn:
            rows = await conn.fetch(
                "SELECT r.id, r.title, r.owner_unit, r.status, "
                "coalesce(array_agg(m.unit) FILTER (WHERE m.unit IS NOT NULL), '{}') AS members "
                f"FROM rooms r LEFT JOIN room_members m ON m.room = r.id {where} "
                "GROUP BY r.id ORDER BY r.id",
                *args,
            )
        return [Room(r["id"], r["title"], r["owner_unit"], frozenset(r["members"]), r["status"]) for r in rows]

    async def put_room(self, room: Room) -> None:
        check_room(room)
        async with self._conn() as conn, conn.transaction():
            await conn.execute(
                "INSERT INTO rooms (id, title, owner_unit, changed_at) VALUES ($1, $2, $3, clock_timestamp()) "
                "ON CONFLICT (id) DO UPDATE SET title = excluded.title, owner_unit = excluded.owner_unit, "
                "changed_at = excluded.changed_at",
                room.id,
                room.title,
                room.owner_unit,
            )
            await conn.execute("DELETE FROM room_members WHERE room = $1", room.id)
            await conn.execute(
                "INSERT INTO room_members (room, unit) SELECT $1, unnest($2::text[])",
                room.id,
                sorted(room.member_units),
            )

    # -- changes and audit ----------------------------------------------

    async def changes(self, since: float) -> Changes:
        async with self._conn() as conn, conn.transaction(isolation="repeatable_read", readonly=True):
            now = float(await conn.fetchval("SELECT extract(epoch FROM clock_timestamp())"))
            users = await conn.fetch(
                f"SELECT {USER_COLUMNS} FROM users WHERE changed_at > to_timestamp($1) ORDER BY changed_at", since
            )
            rooms = await conn.fetch(
                "SELECT r.id, r.title, r.owner_unit, r.status, "
                "coalesce(array_agg(m.unit) FILTER (WHERE m.unit IS NOT NULL), '{}') AS members "
                "FROM rooms r LEFT JOIN room_members m ON m.room = r.id "
                "WHERE r.changed_at > to_timestamp($1) GROUP BY r.id ORDER BY r.id",
                since,
            )
        return Changes(
            [_user(u) for u in users],
            [Room(r["id"], r["title"], r["owner_unit"], frozenset(r["members"]), r["status"]) for r in rooms],
            now,
        )

    async def append_audit(self, events: Sequence[AuditEvent]) -> None:
        if events:
            async with self._conn() as conn, conn.transaction():
                await _insert_audit(conn, events)

    async def audit_trail(
        self,
        *,
        actor: str | None = None,
        action: str | None = None,
        after_id: int = 0,
        limit: int = 100,
    ) -> list[AuditRecord]:
        async with self._conn() as conn:
            rows = await conn.fetch(
                "SELECT id, action, extract(epoch FROM at) AS at, actor, unit, client, target, detail::text, node "
                "FROM audit_log WHERE id > $1 AND ($2::text IS NULL OR actor = $2) "
                "AND ($3::text IS NULL OR action = $3) ORDER BY id LIMIT $4",
                after_id,
                actor,
                action,
                limit,
            )
        return [
            AuditRecord(
                int(r["id"]),
                AuditEvent(
                    r["action"],
                    float(r["at"]),
                    r["actor"],
                    r["unit"],
                    r["client"],
                    r["target"],
                    orjson.loads(r["detail"]),
                    r["node"],
                ),
            )
            for r in rows
        ]


async def _insert_audit(conn: Any, events: Sequence[AuditEvent]) -> None:
    await conn.executemany(
        "INSERT INTO audit_log (at, node, actor, unit, client, action, target, detail) "
        "VALUES (to_timestamp($1), $2, $3, $4, $5, $6, $7, $8::jsonb)",
        [
            (e.at, e.node, e.actor, e.unit, e.client, e.action, e.target, orjson.dumps(dict(e.detail)).decode())
            for e in events
        ],
    )
