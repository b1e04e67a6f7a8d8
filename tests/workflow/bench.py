"""A workflow store on a real backend, seeded like a development hub, with a clock the test moves.

The test bench of the workflow's store tests (a fixture, not a benchmark: nothing here is timed).

``open_bench("sqlite" | "postgres", tmp)`` yields a ``Bench``: the store (its
clock is ``bench.clock``), the directory on the same database (demo units,
people and rooms; audit rows), and ``actor(user_id)`` for the demo people
(``rooms.seed``: ``humen-editor``, ``dgdaily-commander``, ...).
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

from rooms.directory import AuditRecord, Directory
from rooms.events import Event
from rooms.postgres_directory import PostgresDirectory
from rooms.postgres_workflow import PostgresWorkflowStore
from rooms.seed import seed
from rooms.sqlite_directory import SqliteDirectory
from rooms.sqlite_workflow import SqliteWorkflowStore
from rooms.workflow import Actor
from rooms.workflow_store import Change, WorkflowStore
from tests.cluster.services import postgres_schema

START = 2_000_000_000.0  # a fixed "now" for every bench, after the demo rooms were seeded


class Clock:
    def __init__(self, now: float = START) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


class Bench:
    def __init__(self, store: WorkflowStore, directory: Directory, clock: Clock, backend: str) -> None:
        self.store = store
        self.directory = directory
        self.clock = clock
        self.backend = backend
        self._kinds: dict[str, str] = {}

    async def actor(self, user_id: str) -> Actor:
        if not self._kinds:
            self._kinds = {u.code: u.kind for u in await self.directory.units()}
        user = await self.directory.user(user_id)
        assert user is not None, f"no demo user {user_id}"
        return Actor(user.id, user.unit, self._kinds[user.unit], user.roles, "127.0.0.1")

    async def age_room(self, room_id: str) -> float:
        """Stamp the room as changed long ago; return a time between that stamp and now."""
        old = "1.0" if self.backend == "sqlite" else "to_timestamp(1)"
        store: Any = self.store
        await store._transact(lambda tx: tx.execute(f"UPDATE rooms SET changed_at = {old} WHERE id = ?", room_id))
        return 2.0

    async def audit(self, action: str, target: str | None = None) -> list[AuditRecord]:
        records = await self.directory.audit_trail(action=action, limit=1000)
        return [r for r in records if target is None or r.event.target == target]


def channels_of(change: Change[Any], type: str | None = None) -> set[str]:
    """The channels a change's events went to (of one type, if given)."""
    return {e.channel for e in change.events if type is None or e.type == type}


def types_of(events: list[Event]) -> set[str]:
    return {e.type for e in events}


@contextlib.asynccontextmanager
async def open_bench(backend: str, tmp: Path) -> AsyncIterator[Bench]:
    clock = Clock()
    async with contextlib.AsyncExitStack() as stack:
        store: WorkflowStore
        directory: Directory
        if backend == "sqlite":
            path = tmp / "tongpin.sqlite3"
            store, directory = SqliteWorkflowStore(path, node="test", clock=clock), SqliteDirectory(path)
        else:
            url = await stack.enter_async_context(postgres_schema())  # dropped last
            store, directory = PostgresWorkflowStore(url, node="test", clock=clock), PostgresDirectory(url)
        await store.open()  # migrates
        stack.push_async_callback(store.close)
        await directory.open()
        stack.push_async_callback(directory.close)
        await seed(directory, demo=True)
        yield Bench(store, directory, clock, backend)
