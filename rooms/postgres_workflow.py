"""PostgreSQL workflow store, for a cluster: every node changes the same rows.

Writes run in READ COMMITTED transactions that lock the rows they judge
(``SELECT ... FOR UPDATE`` through ``Tx.lock``), so concurrent actions on one
thing from any nodes apply one after the other. Reads run in one REPEATABLE
READ snapshot. Audit rows and live events are written just before the
commit, on the same connection (``postgres_events.append_in``). Constraint
violations become ``rooms.workflow.Conflict``; other driver and network
errors ``StoreUnavailable`` (``rooms.postgres_store.PostgresPool``).
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import asyncpg  # type: ignore[import-untyped,unused-ignore]

from rooms.events import Event
from rooms.postgres_directory import _insert_audit
from rooms.postgres_events import append_in
from rooms.postgres_store import PostgresPool
from rooms.sql import Queued, Row, Tx, dollar_params
from rooms.workflow import Conflict
from rooms.workflow_base import Change
from rooms.workflow_store import WorkflowStore

__all__ = ["PostgresTx", "PostgresWorkflowStore", "write_in"]

T = TypeVar("T")


class PostgresTx(Queued):
    """``rooms.sql.Tx`` on one pooled connection, inside its transaction."""

    def __init__(self, conn: Any, now: float) -> None:
        super().__init__()
        self._conn = conn
        self.now = now

    async def _call(self, method: Callable[..., Awaitable[Any]], sql: str, args: tuple[object, ...]) -> Any:
        try:
            return await method(sql, *args)
        except asyncpg.IntegrityConstraintViolationError as exc:
            raise Conflict(f"the data does not allow this: {exc}") from exc

    async def rows(self, sql: str, *args: object) -> list[Row]:
        found: list[Row] = await self._call(self._conn.fetch, dollar_params(sql), args)
        return found

    async def row(self, sql: str, *args: object) -> Row | None:
        found: Row | None = await self._call(self._conn.fetchrow, dollar_params(sql), args)
        return found

    async def execute(self, sql: str, *args: object) -> int:
        status: str = await self._call(self._conn.execute, dollar_params(sql), args)
        return int(status.rsplit(" ", 1)[-1])

    async def lock(self, sql: str, *args: object) -> Row | None:
        found: Row | None = await self._call(self._conn.fetchrow, dollar_params(sql) + " FOR UPDATE", args)
        return found

    async def touch_room(self, room_id: str) -> None:
        await self._conn.execute("UPDATE rooms SET changed_at = clock_timestamp() WHERE id = $1", room_id)


async def write_in(conn: Any, now: float, fn: Callable[[Tx], Awaitable[T]]) -> tuple[T, list[Event]]:
    """Run ``fn`` in one transaction on ``conn``; its queued audit rows and events go in before the commit."""
    tx = PostgresTx(conn, now)
    async with conn.transaction():
        value = await fn(tx)
        if tx.audits:
            await _insert_audit(conn, tx.audits)
        events = await append_in(conn, tx.publications) if tx.publications else []
    return value, events


class PostgresWorkflowStore(PostgresPool, WorkflowStore):
    """``rooms.workflow_store.WorkflowStore`` on PostgreSQL."""

    what = "workflow store"

    def __init__(
        self, url: str, *, migrate: bool = True, node: str = "", clock: Callable[[], float] = time.time
    ) -> None:
        PostgresPool.__init__(self, url, migrate=migrate)
        WorkflowStore.__init__(self, node=node, clock=clock)

    async def _transact(self, fn: Callable[[Tx], Awaitable[T]]) -> Change[T]:
        value, events = await self._run(lambda conn: write_in(conn, self.clock(), fn))
        return Change(value, events)

    async def _read(self, fn: Callable[[Tx], Awaitable[T]]) -> T:
        async def txn(conn: Any) -> T:
            async with conn.transaction(isolation="repeatable_read", readonly=True):
                return await fn(PostgresTx(conn, self.clock()))

        return await self._run(txn)
