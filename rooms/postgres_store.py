"""PostgreSQL store, for a cluster: every node shares one database.

Through asyncpg, with a small connection pool. Beyond the ``Store`` contract:

- **Per-draft commit order.** Log ids come from one sequence, and sequence
  values are handed out at insert time, not at commit: without care, two
  nodes appending to one draft could commit ids 11 then 10, and a reader
  between the two commits would see 11 without 10. A compaction reading that
  state would fold up to 11 and then delete 10 unseen; a catch-up reading
  "after 11" would skip it. So ``append`` takes a transaction-scoped advisory
  lock per draft before inserting: the appends of one draft commit in id
  order, and every read sees a prefix of each draft's log.
- **Consistent reads.** ``load`` reads the snapshot and the log in one
  REPEATABLE READ transaction, so a compaction committing in between cannot
  make it see the new snapshot's cut with the old log, or the reverse.
- **Conditional compaction.** ``compact`` upserts the snapshot only when its
  ``upto`` is newer (the row lock orders concurrent compactions) and deletes
  the log up to ``upto`` in the same transaction.
- **Migrations** run under a session advisory lock, so any number of nodes
  may run ``tongpin migrate`` or start at once: one migrates, the others
  wait and then find the schema current. Tables go in the connection's
  ``search_path`` (a URL may say ``?search_path=...``).
- **Errors** from asyncpg and the network become ``StoreUnavailable`` at this
  edge. If a commit's acknowledgement is lost, the journal retries the batch
  and the rows may be stored twice; Yjs updates are idempotent, so the
  content is not duplicated.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable, Sequence
from typing import Any, TypeVar

import asyncpg  # type: ignore[import-untyped,unused-ignore]

from rooms.store import DraftKey, SchemaTooNew, StoredDraft, StoreLatency, StoreUnavailable
from schema.migrations import latest_version, migrations

__all__ = ["MIGRATION_LOCK", "PostgresPool", "PostgresStore"]

T = TypeVar("T")

BACKEND = "postgres"

# (classid, objid) of the session advisory lock that serialises migrations.
# The two-key form lives in a different lock space from the one-key locks
# ``append`` takes per draft, so they never collide.
MIGRATION_LOCK = (0x746F6E67, 1)  # "tong"

_ERRORS: tuple[type[BaseException], ...] = (
    asyncpg.PostgresError,
    asyncpg.InterfaceError,
    asyncpg.exceptions.InternalClientError,
    OSError,
    TimeoutError,
)

_APPEND = """
INSERT INTO doc_updates (room, draft, data)
SELECT r, d, b FROM unnest($1::text[], $2::text[], $3::bytea[]) WITH ORDINALITY AS t(r, d, b, n)
ORDER BY n
RETURNING id
"""

_LOCK_DRAFTS = """
SELECT pg_advisory_xact_lock(h)
FROM (SELECT DISTINCT hashtextextended(k, 0) AS h FROM unnest($1::text[]) AS k ORDER BY 1) AS locks
"""

_COMPACT = """
INSERT INTO doc_snapshots (room, draft, upto, data) VALUES ($1, $2, $3, $4)
ON CONFLICT (room, draft) DO UPDATE SET upto = excluded.upto, data = excluded.data, updated_at = now()
WHERE doc_snapshots.upto < excluded.upto
RETURNING upto
"""


class PostgresPool:
    """A small asyncpg pool that brings the schema up to date when it opens.

    The shared base of the PostgreSQL backends: every call runs on one pooled
    connection through ``_run``, which turns driver and network errors into
    ``StoreUnavailable`` and records its duration in ``latency``.
    """

    what = "store"  # named in the "is closed" error

    def __init__(
        self,
        url: str,
        *,
        migrate: bool = True,
        min_size: int = 1,
        max_size: int = 4,
        connect_timeout: float = 5.0,
        command_timeout: float = 30.0,
    ) -> None:
        self.url = url
        self.migrate = migrate
        self.min_size = min_size
        self.max_size = max_size
        self.connect_timeout = connect_timeout
        self.command_timeout = command_timeout
        self._pool: Any = None
        self.latency = StoreLatency()

    async def open(self) -> None:
        try:
            self._pool = await asyncpg.create_pool(
                self.url,
                min_size=self.min_size,
                max_size=self.max_size,
                timeout=self.connect_timeout,
                command_timeout=self.command_timeout,
            )
        except _ERRORS as exc:
            raise StoreUnavailable(f"postgresql: cannot connect: {exc}") from exc
        try:
            await self._run(lambda conn: apply_migrations(conn, migrate=self.migrate))
        except BaseException:
            await self.close()
            raise

    async def close(self) -> None:
        pool, self._pool = self._pool, None
        if pool is not None:
            try:
                await pool.close()
            except _ERRORS:
                pool.terminate()

    async def _run(self, fn: Callable[[Any], Awaitable[T]]) -> T:
        pool = self._pool
        if pool is None:
            raise StoreUnavailable(f"{self.what} is closed")
        started = time.perf_counter()
        try:
            async with pool.acquire(timeout=self.connect_timeout) as conn:
                return await fn(conn)
        except _ERRORS as exc:
            raise StoreUnavailable(f"postgresql: {type(exc).__name__}: {exc}") from exc
        finally:
            self.latency.observe(time.perf_counter() - started)


class PostgresStore(PostgresPool):
    """Store backed by PostgreSQL (see ``rooms.store.Store``)."""

    async def append(self, items: Sequence[tuple[DraftKey, bytes]]) -> list[int]:
        if not items:
            return []
        rooms = [k.room for k, _ in items]
        drafts = [k.draft for k, _ in items]
        datas = [d for _, d in items]
        names = sorted({str(k) for k, _ in items})

        async def txn(conn: Any) -> list[int]:
            async with conn.transaction():
                await conn.execute(_LOCK_DRAFTS, names)
                rows = await conn.fetch(_APPEND, rooms, drafts, datas)
            # Sequence values follow the insert order, which follows n.
            return sorted(int(r[0]) for r in rows)

        return await self._run(txn)

    async def load(self, key: DraftKey) -> StoredDraft:
        async def read(conn: Any) -> StoredDraft:
            async with conn.transaction(isolation="repeatable_read", readonly=True):
                row = await conn.fetchrow(
                    "SELECT upto, data FROM doc_snapshots WHERE room = $1 AND draft = $2", key.room, key.draft
                )
                upto, snapshot = (int(row[0]), bytes(row[1])) if row is not None else (0, None)
                rows = await conn.fetch(
                    "SELECT id, data FROM doc_updates WHERE room = $1 AND draft = $2 AND id > $3 ORDER BY id",
                    key.room,
                    key.draft,
                    upto,
                )
            last = int(rows[-1][0]) if rows else upto
            return StoredDraft(snapshot, upto, [bytes(r[1]) for r in rows], last)

        return await self._run(read)

    async def compact(self, key: DraftKey, upto: int, snapshot: bytes) -> bool:
        async def txn(conn: Any) -> bool:
            async with conn.transaction():
                written = await conn.fetchval(_COMPACT, key.room, key.draft, upto, snapshot)
                if written is None:
                    return False
                await conn.execute(
                    "DELETE FROM doc_updates WHERE room = $1 AND draft = $2 AND id <= $3", key.room, key.draft, upto
                )
                return True

        return await self._run(txn)

    async def log_length(self, key: DraftKey) -> int:
        async def count(conn: Any) -> int:
            n = await conn.fetchval(
                "SELECT count(*) FROM doc_updates WHERE room = $1 AND draft = $2", key.room, key.draft
            )
            return int(n)

        return await self._run(count)

    async def ping(self) -> None:
        async def one(conn: Any) -> None:
            await conn.fetchval("SELECT 1")

        await self._run(one)


async def schema_version(conn: Any) -> int:
    """The newest migration applied in the connection's schema (0: none)."""
    exists = await conn.fetchval("SELECT to_regclass('schema_migrations') IS NOT NULL")
    if not exists:
        return 0
    return int(await conn.fetchval("SELECT coalesce(max(version), 0) FROM schema_migrations"))


def _check_not_newer(current: int, known: int) -> None:
    if current > known:
        raise SchemaTooNew(
            f"database schema is version {current}, but this Tongpin knows only up to {known}; "
            "upgrade Tongpin before starting it against this database"
        )


async def apply_migrations(conn: Any, *, migrate: bool) -> int:
    """Bring the schema to the newest version this code knows; return it.

    Safe to run from many nodes at once: the work happens under a session
    advisory lock, and the version is read again once the lock is held.
    """
    known = latest_version(BACKEND)
    current = await schema_version(conn)
    _check_not_newer(current, known)
    if current == known:
        return known
    if not migrate:
        raise StoreUnavailable(f"database schema is version {current}, {known} needed: run `tongpin migrate`")
    await conn.execute("SELECT pg_advisory_lock($1, $2)", *MIGRATION_LOCK)
    try:
        await conn.execute(
            "CREATE TABLE IF NOT EXISTS schema_migrations "
            "(version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at TIMESTAMPTZ NOT NULL DEFAULT now())"
        )
        current = await schema_version(conn)  # another node may have migrated meanwhile
        _check_not_newer(current, known)
        for version, name, sql in migrations(BACKEND):
            if version <= current:
                continue
            async with conn.transaction():
                await conn.execute(sql)
                await conn.execute(
                    "INSERT INTO schema_migrations (version, name, applied_at) VALUES ($1, $2, now())", version, name
                )
    finally:
        await conn.execute("SELECT pg_advisory_unlock($1, $2)", *MIGRATION_LOCK)
    return known
