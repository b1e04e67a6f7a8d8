"""SQLite monitor store: the embedded default. Single node only.

The database file of the document store, on a connection and worker thread
of its own (see ``rooms.sqlite_store.SqliteDatabase``). The operations are
``rooms.monitor_ops``'s, over the workflow store's ``SqliteTx``: a
transaction spans several awaits, so an asyncio lock gives one transaction
at a time the connection, and every write is one ``BEGIN IMMEDIATE``
transaction. Writes are therefore serialised: the duplicate checks of
``insert_alert`` and the compare-and-set of ``transition`` cannot race.
Guarantees: ``rooms.monitor``.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TYPE_CHECKING, TypeVar, cast

from rooms.events import Event
from rooms.monitor_ops import MonitorOps
from rooms.sql import Tx
from rooms.sqlite_store import SqliteDatabase
from rooms.sqlite_workflow import SqliteTx, _begin, _rollback
from rooms.store import StoreUnavailable

if TYPE_CHECKING:
    from rooms.sqlite_workflow import SqliteWorkflowStore

__all__ = ["SqliteMonitor"]

T = TypeVar("T")


class SqliteMonitor(SqliteDatabase, MonitorOps):
    """``rooms.monitor.MonitorStore`` on the SQLite file."""

    what = "monitor store"
    thread_name = "sqlite-monitor"

    def __init__(self, path: str | Path, *, migrate: bool = True) -> None:
        super().__init__(path, migrate=migrate)
        self._lock = asyncio.Lock()

    def _tx(self) -> SqliteTx:
        # SqliteTx uses only ``_run`` of its store, which every SqliteDatabase has.
        return SqliteTx(cast("SqliteWorkflowStore", self), time.time())

    async def _transact(self, fn: Callable[[Tx], Awaitable[T]]) -> tuple[T, list[Event]]:
        async with self._lock:
            tx = self._tx()
            await self._run(_begin("IMMEDIATE"))
            try:
                value = await fn(tx)
                events = await self._run(tx.commit)
            except BaseException:
                with contextlib.suppress(StoreUnavailable):
                    await self._run(_rollback)
                raise
        return value, events

    async def _read(self, fn: Callable[[Tx], Awaitable[T]]) -> T:
        async with self._lock:  # never inside another caller's open transaction
            return await fn(self._tx())
