"""Group commit: batching, acknowledgements in order, store outages, the bound."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from pycrdt import Text

from rooms.journal import Journal, JournalFull
from rooms.registry import build_doc
from rooms.store import DraftKey
from tests.rooms.helpers import MemoryPeer, text_update
from tests.rooms.test_registry import GatedStore
from tests.waiting import wait_until

KEY = DraftKey("room1", "draft1")


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[GatedStore]:
    s = GatedStore(tmp_path / "j.sqlite3")
    await s.open()
    yield s
    await s.close()


async def test_a_burst_commits_in_few_batches_and_acks_every_update(store: GatedStore) -> None:
    journal = Journal(store, max_batch=1000)
    journal.start()
    peer = MemoryPeer()
    for i in range(500):
        journal.append(KEY, text_update(f"第{i}段", client_id=i + 1), peer)
    await journal.flush()
    assert peer.stored == 500
    assert journal.batches < 50, "updates queued during a commit share the next one"
    assert len((await store.load(KEY)).updates) == 500
    await journal.stop(5)


async def test_outage_keeps_updates_queued_unacked_then_drains(store: GatedStore) -> None:
    journal = Journal(store)
    journal.start()
    peer = MemoryPeer()
    store.fail_appends = True
    journal.append(KEY, text_update("断网时写的"), peer)
    await wait_until(lambda: journal.degraded)
    assert peer.stored == 0, "nothing is reported stored that is not"
    store.fail_appends = False
    await journal.flush()
    assert peer.stored == 1 and not journal.degraded
    doc = build_doc(await store.load(KEY))
    assert str(doc.get("t", type=Text)) == "断网时写的"
    await journal.stop(5)


async def test_backlog_is_bounded(store: GatedStore) -> None:
    journal = Journal(store, max_backlog=3)
    for i in range(3):
        journal.append(KEY, text_update(str(i), client_id=i + 1), None)
    assert not journal.has_room()
    with pytest.raises(JournalFull):
        journal.append(KEY, text_update("x", client_id=9), None)


async def test_markers_keep_acks_in_order_without_rows(store: GatedStore) -> None:
    journal = Journal(store)
    journal.start()
    peer = MemoryPeer()
    journal.append(KEY, None, peer)
    journal.append(KEY, text_update("a"), peer)
    await journal.flush()
    assert peer.stored == 2
    assert len((await store.load(KEY)).updates) == 1
    await journal.stop(5)
