"""SQLite store: the embedded default. Single node only.

One connection, owned by one worker thread, so calls are serialised and the
event loop never blocks on disk. WAL mode with ``synchronous=FULL``: a commit
that returned survives a crash of the process and of the machine.
"""

from __future__ import annotations

import asyncio
import sqlite3
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TypeVar

from rooms.store import DraftKey, SchemaTooNew, StoredDraft, StoreLatency, StoreUnavailable
from schema.migrations import latest_version, migrations

__all__ = ["SqliteDatabase", "SqliteStore"]

T = TypeVar("T")

BACKEND = "sqlite"
BUSY_TIMEOUT = 5.0  # seconds a call waits for another connection's lock


class SqliteDatabase:
    """One SQLite connection owned by one worker thread: the shared base of
    the SQLite backends (store, directory, event store).

    ``_run`` calls a function with the connection on that thread, turns
    SQLite errors into ``StoreUnavailable`` (``_translate`` may name a finer
    error) and records its duration in ``latency``; ``_write`` runs one in a
    write transaction. ``open`` applies the migrations.
    """

    what = "store"  # named in the "is closed" error
    thread_name = "sqlite-store"

    def __init__(self, path: str | Path, *, migrate: bool = True) -> None:
        self.path = str(path)
        self.migrate = migrate
        self._db: sqlite3.Connection | None = None
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix=self.thread_name)
        self.latency = StoreLatency()

    def _translate(self, exc: sqlite3.Error) -> Exception:
        return StoreUnavailable(f"sqlite: {exc}")

    async def _run(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        if self._db is None:  # closed: the worker thread is gone too
            raise StoreUnavailable(f"{self.what} is closed")
        loop = asyncio.get_running_loop()

        def call() -> T:
            if self._db is None:
                raise StoreUnavailable(f"{self.what} is closed")
            started = time.perf_counter()
            try:
                return fn(self._db)
            except sqlite3.Error as exc:
                raise self._translate(exc) from exc
            finally:
                self.latency.observe(time.perf_counter() - started)

        return await loop.run_in_executor(self._pool, call)

    async def _write(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        """Run ``fn`` in one write transaction: it commits, or rolls back if ``fn`` raises."""

        def txn(db: sqlite3.Connection) -> T:
            db.execute("BEGIN IMMEDIATE")
            try:
                result = fn(db)
                db.execute("COMMIT")
            except BaseException:
                db.execute("ROLLBACK")
                raise
            return result

        return await self._run(txn)

    async def open(self) -> None:
        loop = asyncio.get_running_loop()
        await loop.run_in_executor(self._pool, self._open_sync)

    def _open_sync(self) -> None:
        if self.path != ":memory:":
            Path(self.path).parent.mkdir(parents=True, exist_ok=True)
        db = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
        try:
            db.execute(f"PRAGMA busy_timeout={int(BUSY_TIMEOUT * 1000)}")
            _use_wal(db)
            db.execute("PRAGMA synchronous=FULL")
            db.execute("PRAGMA foreign_keys=ON")
            apply_migrations(db, migrate=self.migrate)
        except sqlite3.Error as exc:
            db.close()
            raise StoreUnavailable(f"sqlite: {exc}") from exc
        except BaseException:
            db.close()
            raise
        self._db = db

    async def close(self) -> None:
        loop = asyncio.get_running_loop()

        def shut() -> None:
            if self._db is not None:
                self._db.close()
                self._db = None

        await loop.run_in_executor(self._pool, shut)
        self._pool.shutdown(wait=True)


class SqliteStore(SqliteDatabase):
    """Store backed by one SQLite file (see ``rooms.store.Store``)."""

    async def append(self, items: Sequence[tuple[DraftKey, bytes]]) -> list[int]:
        def insert(db: sqlite3.Connection) -> list[int]:
            ids = []
            for key, data in items:
                cur = db.execute(
                    "INSERT INTO doc_updates (room, draft, data) VALUES (?, ?, ?)",
                    (key.room, key.draft, data),
                )
                ids.append(int(cur.lastrowid or 0))
            return ids

        return await self._write(insert)

    async def load(self, key: DraftKey) -> StoredDraft:
        def read(db: sqlite3.Connection) -> StoredDraft:
            db.execute("BEGIN")
            try:
                row = db.execute("SELECT upto, data FROM doc_snapshots WHERE room = ? AND draft = ?", key).fetchone()
                upto, snapshot = (int(row[0]), bytes(row[1])) if row else (0, None)
                rows = db.execute(
                    "SELECT id, data FROM doc_updates WHERE room = ? AND draft = ? AND id > ? ORDER BY id",
                    (key.room, key.draft, upto),
                ).fetchall()
            finally:
                db.execute("COMMIT")
            last = int(rows[-1][0]) if rows else upto
            return StoredDraft(snapshot, upto, [bytes(r[1]) for r in rows], last)

        return await self._run(read)

    async def compact(self, key: DraftKey, upto: int, snapshot: bytes) -> bool:
        def replace(db: sqlite3.Connection) -> bool:
            row = db.execute("SELECT upto FROM doc_snapshots WHERE room = ? AND draft = ?", key).fetchone()
            if row is not None and int(row[0]) >= upto:
                return False  # a newer snapshot is already there
            db.execute(
                "INSERT INTO doc_snapshots (room, draft, upto, data) VALUES (?, ?, ?, ?) "
                "ON CONFLICT (room, draft) DO UPDATE SET upto = excluded.upto, data = excluded.data, "
                "updated_at = excluded.updated_at",
                (key.room, key.draft, upto, snapshot),
            )
            db.execute(
                "DELETE FROM doc_updates WHERE room = ? AND draft = ? AND id <= ?",
                (key.room, key.draft, upto),
            )
            return True

        return await self._write(replace)

    async def log_length(self, key: DraftKey) -> int:
        def count(db: sqlite3.Connection) -> int:
            row = db.execute("SELECT count(*) FROM doc_updates WHERE room = ? AND draft = ?", key).fetchone()
            return int(row[0])

        return await self._run(count)

    async def ping(self) -> None:
        await self._run(lambda db: db.execute("SELECT 1").fetchone())


def _use_wal(db: sqlite3.Connection) -> None:
    """Switch to WAL mode, waiting out other processes opening the same file.

    Changing the journal mode can answer SQLITE_BUSY at once, without the
    busy handler, while another connection is doing the same; retry until
    ``BUSY_TIMEOUT``.
    """
    deadline = time.monotonic() + BUSY_TIMEOUT
    while True:
        try:
            db.execute("PRAGMA journal_mode=WAL")
            return
        except sqlite3.OperationalError as exc:
            if exc.sqlite_errorcode != sqlite3.SQLITE_BUSY or time.monotonic() > deadline:
                raise
        time.sleep(0.005)  # in the store's worker thread, never on the event loop


def schema_version(db: sqlite3.Connection) -> int:
    db.execute(
        "CREATE TABLE IF NOT EXISTS schema_migrations "
        "(version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at TEXT NOT NULL)"
    )
    row = db.execute("SELECT max(version) FROM schema_migrations").fetchone()
    return int(row[0] or 0)


def apply_migrations(db: sqlite3.Connection, *, migrate: bool) -> int:
    """Bring the schema to the newest version this code knows; return it."""
    current = schema_version(db)
    known = latest_version(BACKEND)
    if current > known:
        raise SchemaTooNew(
            f"database schema is version {current}, but this Tongpin knows only up to {known}; "
            "upgrade Tongpin before starting it against this database"
        )
    pending = [m for m in migrations(BACKEND) if m[0] > current]
    if pending and not migrate:
        raise StoreUnavailable(f"database schema is version {current}, {known} needed: run `tongpin migrate`")
    for version, name, sql in pending:
        db.execute("BEGIN IMMEDIATE")
        try:
            if schema_version(db) >= version:  # another process migrated while we waited
                db.execute("ROLLBACK")
                continue
            for statement in _statements(sql):
                db.execute(statement)
            db.execute(
                "INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, ?, datetime('now'))",
                (version, name),
            )
            db.execute("COMMIT")
        except BaseException:
            db.execute("ROLLBACK")
            raise
    return known


def _statements(sql: str) -> list[str]:
    """Split a migration into statements (no semicolons inside literals here)."""
    lines = [line for line in sql.splitlines() if not line.strip().startswith("--")]
    return [s.strip() for s in "\n".join(lines).split(";") if s.strip()]
