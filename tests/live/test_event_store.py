"""The EventStore contract (``rooms.event_store.EventStore``), over SQLite and PostgreSQL.

Includes publishing inside a caller's own transaction: the business change
and its events commit together or not at all, on both backends.
"""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import asyncpg  # type: ignore[import-untyped,unused-ignore]
import pytest

from rooms import postgres_events, sqlite_events
from rooms.event_store import EventStore, IdempotencyConflict, IdempotencyKey, Retention, digest_of
from rooms.events import Publication
from rooms.postgres_events import PostgresEventStore
from rooms.sqlite_events import SqliteEventStore
from tests.cluster.services import postgres_schema

pytestmark = pytest.mark.timeout(60)

NEW_UNIT = "INSERT INTO units (code, name_zh, name_en, kind) VALUES ('newtown', '新镇', 'New', 'town')"


def pub(channels: list[str], n: int, type: str = "test.event") -> Publication:
    return Publication.of(channels, type, {"n": n, "标题": f"第{n}条"})


class Backend:
    def __init__(self, name: str, location: str) -> None:
        self.name = name
        self.location = location
        self.opened: list[EventStore] = []

    async def open(self) -> EventStore:
        store: EventStore = (
            SqliteEventStore(self.location) if self.name == "sqlite" else PostgresEventStore(self.location)
        )
        await store.open()
        self.opened.append(store)
        return store

    async def business_change(self, store: EventStore, fail: bool, publications: list[Publication]) -> Any:
        """Insert a unit (the business change) and publish, in one transaction of the caller's."""
        if isinstance(store, SqliteEventStore):

            def change(db: sqlite3.Connection) -> Any:
                db.execute(NEW_UNIT)
                events = sqlite_events.append_in(db, publications)
                if fail:
                    raise RuntimeError("the business change failed after publishing")
                return events

            return await store.transact(change)
        assert isinstance(store, PostgresEventStore)

        async def pg_change(conn: Any) -> Any:
            await conn.execute(NEW_UNIT)
            events = await postgres_events.append_in(conn, publications)
            if fail:
                raise RuntimeError("the business change failed after publishing")
            return events

        return await store.transact(pg_change)

    async def units_named_newtown(self) -> int:
        if self.name == "sqlite":
            db = sqlite3.connect(self.location)
            try:
                return int(db.execute("SELECT count(*) FROM units WHERE code = 'newtown'").fetchone()[0])
            finally:
                db.close()
        conn = await asyncpg.connect(self.location)
        try:
            return int(await conn.fetchval("SELECT count(*) FROM units WHERE code = 'newtown'"))
        finally:
            await conn.close()

    async def backdate(self, seconds: float) -> None:
        if self.name == "sqlite":
            db = sqlite3.connect(self.location, isolation_level=None)
            try:
                db.execute("UPDATE live_events SET at = at - ?", (seconds,))
            finally:
                db.close()
            return
        conn = await asyncpg.connect(self.location)
        try:
            await conn.execute("UPDATE live_events SET at = at - $1", seconds)
        finally:
            await conn.close()


@pytest.fixture(params=["sqlite", "postgres"])
async def backend(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Backend]:
    if request.param == "sqlite":
        b = Backend("sqlite", str(tmp_path / "live.sqlite3"))
        yield b
        for store in b.opened:
            await store.close()
        return
    async with postgres_schema() as url:
        b = Backend("postgres", url)
        yield b
        for store in b.opened:
            await store.close()


async def test_offsets_are_consecutive_per_channel(backend: Backend) -> None:
    store = await backend.open()
    first = await store.append([pub(["unit:humen", "duty"], 1), pub(["unit:humen"], 2)])
    assert [(e.channel, e.offset) for e in first.events] == [("unit:humen", 1), ("duty", 1), ("unit:humen", 2)]
    second = await store.append([pub(["duty"], 3)])
    assert [(e.channel, e.offset) for e in second.events] == [("duty", 2)]
    epochs = {e.channel: e.epoch for e in first.events}
    assert second.events[0].epoch == epochs["duty"] and epochs["duty"] != epochs["unit:humen"]
    history = await store.read("unit:humen", 0, 100)
    assert history.position == (epochs["unit:humen"], 2, 0)
    assert [(e.offset, e.type, e.data) for e in history.events] == [
        (1, "test.event", first.events[0].data),
        (2, "test.event", first.events[2].data),
    ]
    assert history.complete_after(0)
    limited = await store.read("unit:humen", 0, 1)
    assert [e.offset for e in limited.events] == [1] and not limited.complete_after(0)


async def test_positions_give_every_channel_an_epoch_before_its_first_event(backend: Backend) -> None:
    store = await backend.open()
    before = await store.positions(["alerts:humen", "alerts:humen", "user:humen-editor"])
    assert set(before) == {"alerts:humen", "user:humen-editor"}
    assert before["alerts:humen"].top == 0 and before["alerts:humen"].epoch
    published = await store.append([pub(["alerts:humen"], 1)])
    assert published.events[0].epoch == before["alerts:humen"].epoch
    again = await store.positions(["alerts:humen"])
    assert again["alerts:humen"] == (before["alerts:humen"].epoch, 1, 0)
    # Another store on the same database sees the same epoch.
    other = await backend.open()
    assert (await other.positions(["alerts:humen"]))["alerts:humen"] == again["alerts:humen"]


async def test_a_new_database_is_a_new_epoch(backend: Backend, tmp_path: Path) -> None:
    store = await backend.open()
    await store.append([pub(["duty"], 1)])
    old = (await store.positions(["duty"]))["duty"]
    fresh = Backend("sqlite", str(tmp_path / "reset.sqlite3"))
    reset = await fresh.open()
    try:
        new = (await reset.positions(["duty"]))["duty"]
        assert new.epoch != old.epoch and new.top == 0
    finally:
        await reset.close()


async def test_retention_keeps_the_newest_and_raises_kept_after(backend: Backend) -> None:
    store = await backend.open()
    await store.append([pub(["duty"], n) for n in range(1, 11)])
    await store.append([pub(["unit:humen"], 1)])
    deleted = await store.trim(Retention(keep=4, max_age=3600), now=__import__("time").time())
    assert deleted == 6
    history = await store.read("duty", 0, 100)
    assert history.position.kept_after == 6 and [e.offset for e in history.events] == [7, 8, 9, 10]
    assert not history.complete_after(5) and history.complete_after(6)
    # Offsets go on after a trim; the epoch does not change.
    after = await store.append([pub(["duty"], 11)])
    assert after.events[0].offset == 11 and after.events[0].epoch == history.position.epoch
    # By age: everything older than max_age goes, in offset order, with no gap left inside.
    await backend.backdate(7200)
    await store.append([pub(["duty"], 12)])
    await store.trim(Retention(keep=100, max_age=3600), now=__import__("time").time())
    history = await store.read("duty", 0, 100)
    assert history.position.kept_after == 11 and [e.offset for e in history.events] == [12]
    assert (await store.read("unit:humen", 0, 10)).events == []


async def test_idempotent_append(backend: Backend) -> None:
    store = await backend.open()
    request = [pub(["duty", "alerts"], 1)]
    key = IdempotencyKey("svc:abc", digest_of(request))
    first = await store.append(request, key=key)
    retry = await store.append(request, key=key)
    assert not first.duplicate and retry.duplicate and retry.events == []
    assert retry.positions == first.positions == [(e.channel, e.epoch, e.offset) for e in first.events]
    with pytest.raises(IdempotencyConflict):
        other = [pub(["duty"], 2)]
        await store.append(other, key=IdempotencyKey("svc:abc", digest_of(other)))
    assert (await store.read("duty", 0, 10)).position.top == 1
    # Concurrent retries of one request publish once.
    request2 = [pub(["duty"], 3)]
    key2 = IdempotencyKey("svc:def", digest_of(request2))
    results = await asyncio.gather(*(store.append(request2, key=key2) for _ in range(4)))
    assert sum(not r.duplicate for r in results) == 1
    assert (await store.read("duty", 0, 10)).position.top == 2


@pytest.mark.parametrize("fail", [False, True])
async def test_events_commit_with_the_business_change_or_not_at_all(backend: Backend, fail: bool) -> None:
    store = await backend.open()
    before = (await store.positions(["unit:humen"]))["unit:humen"]
    publications = [pub(["unit:humen"], 1, "unit.created")]
    if fail:
        with pytest.raises(RuntimeError, match="business change failed"):
            await backend.business_change(store, True, publications)
        assert await backend.units_named_newtown() == 0
        assert (await store.read("unit:humen", 0, 10)).position == before
        return
    events = await backend.business_change(store, False, publications)
    assert await backend.units_named_newtown() == 1
    assert [(e.channel, e.offset, e.type) for e in events] == [("unit:humen", 1, "unit.created")]
    assert [e.offset for e in (await store.read("unit:humen", 0, 10)).events] == [1]


async def test_append_in_refuses_to_run_outside_a_transaction(backend: Backend) -> None:
    if backend.name == "sqlite":
        db = sqlite3.connect(backend.location, isolation_level=None)
        try:
            with pytest.raises(RuntimeError, match="open transaction"):
                sqlite_events.append_in(db, [pub(["duty"], 1)])
        finally:
            db.close()
        return
    await backend.open()  # migrates
    conn = await asyncpg.connect(backend.location)
    try:
        with pytest.raises(RuntimeError, match="open transaction"):
            await postgres_events.append_in(conn, [pub(["duty"], 1)])
    finally:
        await conn.close()


async def test_concurrent_publishers_commit_in_offset_order(backend: Backend) -> None:
    """Readers never see offset n+1 before n, with several connections publishing at once."""
    stores = [await backend.open() for _ in range(3)]
    reader = stores[0]
    done = asyncio.Event()
    seen_gaps: list[tuple[int, int]] = []

    async def publish(store: EventStore, n: int) -> None:
        for i in range(n):
            await store.append([pub(["room:r1", "duty"] if i % 2 else ["duty"], i)])

    async def watch() -> None:
        last = 0
        while not done.is_set():
            history = await reader.read("duty", last, 1000)
            for event in history.events:
                if event.offset != last + 1:
                    seen_gaps.append((last, event.offset))
                last = event.offset
            await asyncio.sleep(0)

    watcher = asyncio.get_running_loop().create_task(watch())
    await asyncio.gather(*(publish(s, 40) for s in stores))
    done.set()
    await watcher
    assert seen_gaps == []
    assert (await reader.read("duty", 0, 1000)).position.top == 120
