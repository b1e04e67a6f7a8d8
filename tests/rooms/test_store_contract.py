"""The Store contract (``rooms.store.Store``), run over every backend.

Each test gets a fresh database: a SQLite file, or a fresh PostgreSQL schema
on ``TONGPIN_TEST_DATABASE_URL``. ``open_store()`` opens one more store on
the same database, so tests can act as several nodes sharing one store.
"""

from __future__ import annotations

import asyncio
import random
import re
import sqlite3
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import asyncpg  # type: ignore[import-untyped,unused-ignore]
import pytest
from pycrdt import Doc, Text

from rooms.postgres_store import PostgresStore
from rooms.registry import build_doc
from rooms.sqlite_store import SqliteStore
from rooms.store import DraftKey, SchemaTooNew, Store, StoreUnavailable
from schema.migrations import latest_version, migrations
from tests.cluster.services import postgres_schema
from workers.compaction import Compactor

KEY = DraftKey("room1", "draft1")
OTHER = DraftKey("room1", "draft2")


class Backend:
    """One database under test, and the stores opened on it."""

    def __init__(self, name: str, location: str) -> None:
        self.name = name
        self.location = location  # SQLite path or PostgreSQL URL
        self.opened: list[Store] = []

    def new(self, *, migrate: bool = True) -> Store:
        if self.name == "sqlite":
            return SqliteStore(self.location, migrate=migrate)
        return PostgresStore(self.location, migrate=migrate)

    async def open_store(self, *, migrate: bool = True) -> Store:
        store = self.new(migrate=migrate)
        await store.open()
        self.opened.append(store)
        return store

    async def sql(self, statement: str, *args: Any) -> list[tuple[Any, ...]]:
        """Run raw SQL on the database, outside any store (to shape the schema)."""
        if self.name == "sqlite":

            def run() -> list[tuple[Any, ...]]:
                db = sqlite3.connect(self.location, isolation_level=None)
                try:
                    return [tuple(r) for r in db.execute(statement, args).fetchall()]
                finally:
                    db.close()

            return await asyncio.to_thread(run)
        conn = await asyncpg.connect(self.location)
        try:
            numbered = iter(range(1, len(args) + 1))
            pg = re.sub(r"\?", lambda _: f"${next(numbered)}", statement)
            return [tuple(r) for r in await conn.fetch(pg, *args)]
        finally:
            await conn.close()

    async def record_version(self, version: int, name: str) -> None:
        now = "datetime('now')" if self.name == "sqlite" else "now()"
        await self.sql(f"INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, ?, {now})", version, name)

    async def close_all(self) -> None:
        for store in self.opened:
            await store.close()


@pytest.fixture(params=["sqlite", "postgres"])
async def backend(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Backend]:
    if request.param == "sqlite":
        b = Backend("sqlite", str(tmp_path / "contract.sqlite3"))
        yield b
        await b.close_all()
        return
    async with postgres_schema() as url:
        b = Backend("postgres", url)
        yield b
        await b.close_all()


def typing_session(n: int, client_id: int, token: str) -> tuple[list[bytes], Callable[[], str]]:
    """``n`` updates of one writer typing ``token<i>;`` tokens; returns them and the final text."""
    doc: Doc[Text] = Doc(client_id=client_id)
    text = doc.get("t", type=Text)
    updates: list[bytes] = []
    sub = doc.observe(lambda e: updates.append(e.update))
    for i in range(n):
        text += f"{token}{i};"
    doc.unobserve(sub)
    return updates, lambda: str(text)


def tokens_of(text: str) -> list[str]:
    return [t for t in text.split(";") if t]


# -- appending and loading ------------------------------------------------


async def test_a_draft_never_written_loads_empty(backend: Backend) -> None:
    store = await backend.open_store()
    stored = await store.load(KEY)
    assert (stored.snapshot, stored.snapshot_upto, stored.updates, stored.last_id) == (None, 0, [], 0)
    assert await store.log_length(KEY) == 0


async def test_append_returns_one_increasing_id_per_update_and_load_keeps_the_order(backend: Backend) -> None:
    store = await backend.open_store()
    batch = [(KEY if i % 3 else OTHER, f"更新{i}".encode()) for i in range(30)]
    ids = await store.append(batch)
    assert len(ids) == len(batch)
    for key in (KEY, OTHER):
        mine = [i for i, (k, _) in zip(ids, batch, strict=True) if k == key]
        assert mine == sorted(mine) and len(set(mine)) == len(mine)
        stored = await store.load(key)
        assert stored.updates == [d for k, d in batch if k == key]
        assert stored.last_id == mine[-1]
        assert await store.log_length(key) == len(mine)
    more = await store.append([(KEY, b"later")])
    assert more[0] > max(ids)


async def test_append_stores_all_of_a_batch_or_none_of_it(backend: Backend) -> None:
    store = await backend.open_store()
    await store.append([(KEY, b"before")])
    with pytest.raises(StoreUnavailable):
        await store.append([(KEY, b"fine"), (OTHER, None)])  # type: ignore[list-item]  # NOT NULL fails
    assert (await store.load(KEY)).updates == [b"before"]
    assert (await store.load(OTHER)).updates == []


async def test_a_closed_store_raises_store_unavailable(backend: Backend) -> None:
    store = backend.new()
    await store.open()
    await store.ping()
    await store.close()
    calls: list[Callable[[], Awaitable[object]]] = [
        store.ping,
        lambda: store.load(KEY),
        lambda: store.append([(KEY, b"x")]),
        lambda: store.log_length(KEY),
    ]
    for call in calls:
        with pytest.raises(StoreUnavailable):
            await call()


# -- compaction -------------------------------------------------------------


async def test_compact_folds_the_log_and_keeps_later_updates(backend: Backend) -> None:
    store = await backend.open_store()
    updates, final = typing_session(60, 7, "字")
    await store.append([(KEY, u) for u in updates[:40]])
    assert await Compactor(store).compact(KEY)
    await store.append([(KEY, u) for u in updates[40:]])
    stored = await store.load(KEY)
    assert stored.snapshot is not None and len(stored.updates) == 20
    assert await store.log_length(KEY) == 20
    assert str(build_doc(stored).get("t", type=Text)) == final()


async def test_an_older_snapshot_never_replaces_a_newer_one(backend: Backend) -> None:
    store = await backend.open_store()
    updates, final = typing_session(20, 7, "a")
    ids = await store.append([(KEY, u) for u in updates])
    full = build_doc(await store.load(KEY)).get_update()
    assert await store.compact(KEY, ids[-1], full)
    assert not await store.compact(KEY, ids[5], b"\x00\x00")
    assert not await store.compact(KEY, ids[-1], b"\x00\x00")
    stored = await store.load(KEY)
    assert stored.snapshot_upto == ids[-1]
    assert str(build_doc(stored).get("t", type=Text)) == final()


async def test_compaction_keeps_updates_stored_before_what_they_build_on(backend: Backend) -> None:
    """Each node logs its own clients' updates, so the log is not in causal order.

    Here node B's client inserts before, and deletes some of, what node A's
    client typed; B stores first and the log is compacted before A stores.
    """
    store = await backend.open_store()
    a: Doc[Text] = Doc(client_id=1)
    a.get("t", type=Text).insert(0, "甲乙;")
    from_a = a.get_update()
    b: Doc[Text] = Doc(client_id=2)
    b.apply_update(from_a)
    text_b = b.get("t", type=Text)
    before = b.get_state()
    text_b.insert(0, "丙;")
    insert_b = b.get_update(before)
    before = b.get_state()
    del text_b[len("丙;".encode()) : len("丙;甲".encode())]  # pycrdt counts UTF-8 bytes
    delete_b = b.get_update(before)
    await store.append([(KEY, insert_b), (KEY, delete_b)])
    assert await Compactor(store).compact(KEY)
    await store.append([(KEY, from_a)])
    assert str(build_doc(await store.load(KEY)).get("t", type=Text)) == str(text_b) == "丙;乙;"


async def test_nodes_appending_and_compacting_one_draft_at_once_lose_and_duplicate_nothing(backend: Backend) -> None:
    """Two stores on one database act as two nodes: both write, both compact, all at once."""
    nodes = [await backend.open_store(), await backend.open_store()]
    writers = [typing_session(240, 100 + n, f"n{n}-") for n in range(2)]
    done = asyncio.Event()
    rng = random.Random(5)

    async def write(n: int) -> None:
        updates = writers[n][0]
        i = 0
        while i < len(updates):
            size = rng.randint(1, 12)
            await nodes[n].append([(KEY, u) for u in updates[i : i + size]])
            i += size

    async def compact_repeatedly(n: int) -> int:
        compactor = Compactor(nodes[n])
        written = 0
        while not done.is_set():
            written += await compactor.compact(KEY)
        written += await compactor.compact(KEY)
        return written

    compactions = [asyncio.create_task(compact_repeatedly(n)) for n in range(2)]
    await asyncio.gather(write(0), write(1))
    done.set()
    assert sum(await asyncio.gather(*compactions)) >= 2
    text = str(build_doc(await nodes[0].load(KEY)).get("t", type=Text))
    tokens = tokens_of(text)
    expected = tokens_of(writers[0][1]()) + tokens_of(writers[1][1]())
    assert sorted(tokens) == sorted(expected), "every token exactly once"


async def test_a_reader_always_sees_a_prefix_of_each_draft_log(backend: Backend) -> None:
    """Ids of one draft become visible in id order, even with writers on several nodes.

    Otherwise a compaction could fold up to id 11 and delete 10 before 10 was
    visible, and a catch-up reading "after 11" would skip it.
    """
    nodes = [await backend.open_store() for _ in range(4)]
    stop = asyncio.Event()

    async def write(store: Store, tag: int) -> None:
        for i in range(100):
            await store.append([(KEY if j % 2 else OTHER, f"{tag}:{i}:{j}".encode()) for j in range(8)])

    async def read(store: Store) -> int:
        seen: list[bytes] = []
        checks = 0
        while not stop.is_set():
            now = (await store.load(KEY)).updates
            assert now[: len(seen)] == seen, "a later read lost or reordered rows an earlier read saw"
            seen = now
            checks += 1
        return checks

    reader = asyncio.create_task(read(nodes[3]))
    await asyncio.gather(*(write(nodes[n], n) for n in range(3)))
    stop.set()
    assert await reader > 0
    assert len((await nodes[3].load(KEY)).updates) == 3 * 100 * 4


# -- schema -----------------------------------------------------------------


async def test_a_schema_newer_than_known_is_refused_with_a_clear_message(backend: Backend) -> None:
    store = await backend.open_store()
    await store.close()
    backend.opened.remove(store)
    newer = latest_version(backend.name) + 1
    await backend.record_version(newer, "from the future")
    with pytest.raises(SchemaTooNew, match=rf"version {newer}.*knows only up to {newer - 1}"):
        await backend.open_store()


async def test_an_unmigrated_database_is_refused_without_migrate(backend: Backend) -> None:
    with pytest.raises(StoreUnavailable, match="tongpin migrate"):
        await backend.open_store(migrate=False)
    store = await backend.open_store()  # migrates
    again = await backend.open_store(migrate=False)
    await store.append([(KEY, b"ok")])
    assert (await again.load(KEY)).updates == [b"ok"]


async def test_many_nodes_migrating_at_once_apply_each_migration_once(backend: Backend) -> None:
    stores = [backend.new() for _ in range(4)]
    await asyncio.gather(*(s.open() for s in stores))
    backend.opened.extend(stores)
    rows = await backend.sql("SELECT version FROM schema_migrations ORDER BY version")
    assert [r[0] for r in rows] == list(range(1, latest_version(backend.name) + 1))


async def test_migrating_a_database_that_holds_data_loses_nothing(backend: Backend) -> None:
    """A database at schema version 1 with drafts in it is brought to the newest version."""
    first_version, first_name, first_sql = migrations(backend.name)[0]
    applied_at = "TEXT NOT NULL" if backend.name == "sqlite" else "TIMESTAMPTZ NOT NULL"
    await backend.sql(
        f"CREATE TABLE schema_migrations (version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at {applied_at})"
    )
    for statement in [s for s in first_sql.split(";") if s.strip()]:
        await backend.sql(statement)
    await backend.record_version(first_version, first_name)
    updates, final = typing_session(30, 9, "旧")
    for update in updates[:20]:
        await backend.sql("INSERT INTO doc_updates (room, draft, data) VALUES (?, ?, ?)", KEY.room, KEY.draft, update)
    store = await backend.open_store()  # migrates to the newest version
    rows = await backend.sql("SELECT max(version) FROM schema_migrations")
    assert rows[0][0] == latest_version(backend.name)
    await store.append([(KEY, u) for u in updates[20:]])
    assert str(build_doc(await store.load(KEY)).get("t", type=Text)) == final()
