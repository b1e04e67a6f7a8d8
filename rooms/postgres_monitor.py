"""PostgreSQL monitor store, for a cluster (see ``rooms.monitor``).

Through the shared asyncpg pool base (``rooms.postgres_store.PostgresPool``);
the operations are ``rooms.monitor_ops``'s, over the workflow store's
``PostgresTx``. ``insert_alert`` takes a transaction advisory lock first, so
alert inserts of all nodes are serialised and the near-identical check sees
every alert committed before it; the unique columns stay the last word.
``transition`` locks the alert's row (``FOR UPDATE``) for its
compare-and-set; ``escalate`` skips rows another node is escalating.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from rooms.events import Event
from rooms.monitor_ops import MonitorOps
from rooms.postgres_store import PostgresPool
from rooms.postgres_workflow import PostgresTx, write_in
from rooms.sql import Tx

__all__ = ["ALERT_LOCK", "PostgresMonitor"]

T = TypeVar("T")

# (classid, objid) of the transaction advisory lock around alert inserts ("tong", 6).
ALERT_LOCK = (0x746F6E67, 6)


class PostgresMonitor(PostgresPool, MonitorOps):
    """``rooms.monitor.MonitorStore`` on PostgreSQL."""

    what = "monitor store"
    skip_locked = " FOR UPDATE SKIP LOCKED"

    async def _serialise_alert_inserts(self, tx: Tx) -> None:
        await tx.row("SELECT pg_advisory_xact_lock(?, ?)", *ALERT_LOCK)

    async def _transact(self, fn: Callable[[Tx], Awaitable[T]]) -> tuple[T, list[Event]]:
        return await self._run(lambda conn: write_in(conn, time.time(), fn))

    async def _read(self, fn: Callable[[Tx], Awaitable[T]]) -> T:
        async def read(conn: Any) -> T:
            return await fn(PostgresTx(conn, time.time()))

        return await self._run(read)
