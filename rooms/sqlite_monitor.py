"""SQLite monitor store: the embedded default. Single node only.

The database file of the document store, on a connection and worker thread
of its own (see ``rooms.sqlite_store.SqliteDatabase``). The operations are
``rooms.monitor_ops``'s, over the workflow store's ``SqliteTransactions``: a
transaction spans several awaits, so an asyncio lock gives one transaction
at a time the connection, and every write is one ``BEGIN IMMEDIATE``
transaction. Writes are therefore serialised: the duplicate checks of
``insert_alert`` and the compare-and-set of ``transition`` cannot race.
Guarantees: ``rooms.monitor``.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from typing import TypeVar

from rooms.events import Event
from rooms.monitor_ops import MonitorOps
from rooms.sql import Tx
from rooms.sqlite_workflow import SqliteTransactions, SqliteTx

__all__ = ["SqliteMonitor"]

T = TypeVar("T")


class SqliteMonitor(SqliteTransactions, MonitorOps):
    """``rooms.monitor.MonitorStore`` on the SQLite file."""

    what = "monitor store"
    thread_name = "sqlite-monitor"

    async def _transact(self, fn: Callable[[Tx], Awaitable[T]]) -> tuple[T, list[Event]]:
        return await self._write_tx(time.time(), fn)

    async def _read(self, fn: Callable[[Tx], Awaitable[T]]) -> T:
        async with self._lock:  # never inside another caller's open transaction
            return await fn(SqliteTx(self, time.time()))
