"""Registry lifecycle: single-flight loads, failed loads, unload and rejoin."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Sequence
from pathlib import Path

import pytest
from pycrdt import Text

from rooms import codec
from rooms.journal import Journal
from rooms.registry import Registry
from rooms.sqlite_store import SqliteStore
from rooms.store import DraftKey, StoredDraft, StoreUnavailable
from tests.rooms.helpers import MemoryPeer, text_update
from tests.waiting import wait_until

KEY = DraftKey("room1", "draft1")


class GatedStore(SqliteStore):
    """The real SQLite store, with loads that can be held or failed on purpose.

    A fault-injection wrapper: SQLite cannot be made to stall or fail on cue.
    """

    def __init__(self, path: Path) -> None:
        super().__init__(path)
        self.gate = asyncio.Event()
        self.gate.set()
        self.fail_loads = 0
        self.load_calls = 0
        self.fail_appends = False

    async def load(self, key: DraftKey) -> StoredDraft:
        self.load_calls += 1
        await self.gate.wait()
        if self.fail_loads:
            self.fail_loads -= 1
            raise StoreUnavailable("injected load failure")
        return await super().load(key)

    async def append(self, items: Sequence[tuple[DraftKey, bytes]]) -> list[int]:
        if self.fail_appends:
            raise StoreUnavailable("injected append failure")
        return await super().append(items)


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[GatedStore]:
    s = GatedStore(tmp_path / "r.sqlite3")
    await s.open()
    yield s
    await s.close()


@pytest.fixture
async def journal(store: GatedStore) -> AsyncIterator[Journal]:
    j = Journal(store)
    j.start()
    yield j
    await j.stop(5)


async def test_concurrent_joins_share_one_load_and_get_the_stored_state(store: GatedStore, journal: Journal) -> None:
    await store.append([(KEY, text_update("已保存"))])
    registry = Registry(store, journal, grace=60)
    store.gate.clear()
    peers = [MemoryPeer() for _ in range(20)]
    joins = [asyncio.create_task(registry.join(KEY, p)) for p in peers]
    await asyncio.sleep(0)
    assert all(p.sent == [] for p in peers), "nobody is greeted before the load finished"
    store.gate.set()
    drafts = await asyncio.gather(*joins)
    assert store.load_calls == 1 and registry.loads == 1
    assert len({id(d) for d in drafts}) == 1
    assert str(drafts[0].doc.get("t", type=Text)) == "已保存"
    await registry.close()


async def test_failed_load_leaves_nothing_behind_and_next_join_retries(store: GatedStore, journal: Journal) -> None:
    await store.append([(KEY, text_update("不能丢"))])
    registry = Registry(store, journal, grace=60)
    store.fail_loads = 1
    with pytest.raises(StoreUnavailable):
        await registry.join(KEY, MemoryPeer())
    assert KEY not in registry.open and registry.load_failures == 1
    draft = await registry.join(KEY, MemoryPeer())
    assert str(draft.doc.get("t", type=Text)) == "不能丢"
    await registry.close()


async def test_idle_draft_is_flushed_and_unloaded(store: GatedStore, journal: Journal) -> None:
    registry = Registry(store, journal, grace=0.01)
    peer = MemoryPeer()
    draft = await registry.join(KEY, peer)
    draft.receive(peer, codec.sync_update(text_update("保存后卸载")))
    registry.leave(KEY, peer)
    await wait_until(lambda: registry.unloads > 0)
    assert KEY not in registry.open
    assert (await store.load(KEY)).updates, "the update was flushed before unload"


async def test_rejoin_during_unload_loses_nothing(store: GatedStore, journal: Journal) -> None:
    registry = Registry(store, journal, grace=0.01)
    a = MemoryPeer()
    draft = await registry.join(KEY, a)
    draft.receive(a, codec.sync_update(text_update("第一段")))
    # Hold the store so the journal's flush (and so the unload) is in progress.
    store.fail_appends = True
    registry.leave(KEY, a)
    await wait_until(lambda: KEY not in registry.open)
    b = MemoryPeer()
    rejoin = asyncio.create_task(registry.join(KEY, b))
    await asyncio.sleep(0.05)
    assert not rejoin.done(), "the rejoin waits for the unload"
    store.fail_appends = False
    again = await asyncio.wait_for(rejoin, 5)
    assert str(again.doc.get("t", type=Text)) == "第一段"
    await registry.close()


async def test_unload_is_postponed_while_the_store_is_down(store: GatedStore, journal: Journal) -> None:
    registry = Registry(store, journal, grace=0.01, flush_timeout=0.05)
    a = MemoryPeer()
    draft = await registry.join(KEY, a)
    store.fail_appends = True
    draft.receive(a, codec.sync_update(text_update("待写入")))
    registry.leave(KEY, a)
    await wait_until(lambda: registry.open.get(KEY) is not draft)  # the unload began
    await wait_until(lambda: registry.open.get(KEY) is draft)  # and was called off
    assert registry.unloads == 0 and registry.open[KEY] is draft
    store.fail_appends = False
    await wait_until(lambda: registry.unloads > 0)
    assert (await store.load(KEY)).updates
