"""SQLite workflow store: the embedded default. Single node only.

The store's SQLite file, on a connection and worker thread of its own. A
transaction spans several awaits (each statement runs on the worker
thread), so an asyncio lock gives one transaction at a time the connection;
SQLite has one writer anyway. Audit rows and live events are written just
before ``COMMIT``, on the same connection (``sqlite_events.append_in``).
"""

from __future__ import annotations

import asyncio
import contextlib
import sqlite3
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TypeVar

from rooms.events import Event
from rooms.sql import Queued, Row, Tx
from rooms.sqlite_directory import NOW, _insert_audit
from rooms.sqlite_events import append_in
from rooms.sqlite_store import SqliteDatabase
from rooms.store import StoreUnavailable
from rooms.workflow import Conflict
from rooms.workflow_base import Change
from rooms.workflow_store import WorkflowStore

__all__ = ["SqliteTransactions", "SqliteTx", "SqliteWorkflowStore"]

T = TypeVar("T")


class SqliteTx(Queued):
    """``rooms.sql.Tx`` on the store's connection (inside its lock and transaction)."""

    def __init__(self, store: SqliteDatabase, now: float) -> None:
        super().__init__()
        self._store = store
        self.now = now

    async def rows(self, sql: str, *args: object) -> list[Row]:
        return await self._store._run(lambda db: db.execute(sql, args).fetchall())

    async def row(self, sql: str, *args: object) -> Row | None:
        found: Row | None = await self._store._run(lambda db: db.execute(sql, args).fetchone())
        return found

    async def execute(self, sql: str, *args: object) -> int:
        return await self._store._run(lambda db: db.execute(sql, args).rowcount)

    async def lock(self, sql: str, *args: object) -> Row | None:
        return await self.row(sql, *args)  # the write transaction holds the whole database

    async def touch_room(self, room_id: str) -> None:
        await self.execute(f"UPDATE rooms SET changed_at = {NOW} WHERE id = ?", room_id)

    def commit(self, db: sqlite3.Connection) -> list[Event]:
        """On the worker thread: write what was queued, then commit."""
        if self.audits:
            _insert_audit(db, self.audits)
        events = append_in(db, self.publications) if self.publications else []
        db.execute("COMMIT")
        return events


def _begin(mode: str) -> Callable[[sqlite3.Connection], None]:
    def begin(db: sqlite3.Connection) -> None:
        if db.in_transaction:  # a cancelled caller's transaction: never commit it
            db.execute("ROLLBACK")
        db.execute(f"BEGIN {mode}")

    return begin


def _rollback(db: sqlite3.Connection) -> None:
    if db.in_transaction:
        db.execute("ROLLBACK")


class SqliteTransactions(SqliteDatabase):
    """A SQLite file whose callers run ``rooms.sql.Tx`` transactions, one at a time.

    A transaction spans several awaits, so an asyncio lock gives one at a
    time the connection (the workflow and monitor stores)."""

    def __init__(self, path: str | Path, *, migrate: bool = True) -> None:
        SqliteDatabase.__init__(self, path, migrate=migrate)
        self._lock = asyncio.Lock()

    async def _write_tx(self, now: float, fn: Callable[[Tx], Awaitable[T]]) -> tuple[T, list[Event]]:
        """Run ``fn`` in one ``BEGIN IMMEDIATE`` transaction; its queued audit rows and events go in before COMMIT."""
        async with self._lock:
            tx = SqliteTx(self, now)
            await self._run(_begin("IMMEDIATE"))
            try:
                value = await fn(tx)
                events = await self._run(tx.commit)
            except BaseException:
                with contextlib.suppress(StoreUnavailable):
                    await self._run(_rollback)
                raise
        return value, events


class SqliteWorkflowStore(SqliteTransactions, WorkflowStore):
    """``rooms.workflow_store.WorkflowStore`` on the SQLite file."""

    what = "workflow store"
    thread_name = "sqlite-workflow"

    def __init__(
        self, path: str | Path, *, migrate: bool = True, node: str = "", clock: Callable[[], float] = time.time
    ) -> None:
        SqliteTransactions.__init__(self, path, migrate=migrate)
        WorkflowStore.__init__(self, node=node, clock=clock)

    def _translate(self, exc: sqlite3.Error) -> Exception:
        if isinstance(exc, sqlite3.IntegrityError):
            return Conflict(f"the data does not allow this: {exc}")
        return super()._translate(exc)

    async def _transact(self, fn: Callable[[Tx], Awaitable[T]]) -> Change[T]:
        value, events = await self._write_tx(self.clock(), fn)
        return Change(value, events)

    async def _read(self, fn: Callable[[Tx], Awaitable[T]]) -> T:
        async with self._lock:
            await self._run(_begin("DEFERRED"))
            try:
                return await fn(SqliteTx(self, self.clock()))
            finally:
                with contextlib.suppress(StoreUnavailable):
                    await self._run(_rollback)  # it wrote nothing: ending it is enough
