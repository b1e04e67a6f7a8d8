"""Compaction folds the log into a snapshot without losing or duplicating content."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from pycrdt import Doc, Text

from rooms.registry import build_doc
from rooms.sqlite_store import SqliteStore
from rooms.store import DraftKey
from workers.compaction import Compactor

KEY = DraftKey("room1", "draft1")


def typed_updates(n: int) -> tuple[list[bytes], str]:
    """Typing with some deletions; returns the updates and the final text.

    pycrdt indexes Text by UTF-8 bytes, so a deletion spans a whole character.
    """
    doc: Doc[Text] = Doc(client_id=42)
    text = doc.get("t", type=Text)
    updates: list[bytes] = []
    sub = doc.observe(lambda e: updates.append(e.update))
    for i in range(n):
        char = "字" if i % 3 else "a"
        text += char
        if i % 10 == 9:
            end = len(text)
            del text[end - len(char.encode()) : end]
    doc.unobserve(sub)
    assert len(str(text)) == n - n // 10
    return updates, str(text)


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[SqliteStore]:
    s = SqliteStore(tmp_path / "c.sqlite3")
    await s.open()
    yield s
    await s.close()


async def test_compaction_folds_the_whole_log(store: SqliteStore) -> None:
    updates, expected = typed_updates(3000)
    await store.append([(KEY, u) for u in updates])
    compactor = Compactor(store)
    assert await compactor.compact(KEY)
    stored = await store.load(KEY)
    assert stored.updates == [] and stored.snapshot is not None
    assert str(build_doc(stored).get("t", type=Text)) == expected
    assert await store.log_length(KEY) == 0


async def test_updates_after_the_snapshot_are_kept(store: SqliteStore) -> None:
    updates, expected = typed_updates(200)
    await store.append([(KEY, u) for u in updates[:150]])
    await Compactor(store).compact(KEY)
    await store.append([(KEY, u) for u in updates[150:]])
    stored = await store.load(KEY)
    assert len(stored.updates) == len(updates) - 150
    assert str(build_doc(stored).get("t", type=Text)) == expected


async def test_two_compactions_at_once_neither_lose_nor_duplicate(store: SqliteStore) -> None:
    updates, expected = typed_updates(1000)
    await store.append([(KEY, u) for u in updates])
    results = await asyncio.gather(Compactor(store).compact(KEY), Compactor(store).compact(KEY))
    assert results.count(True) >= 1
    assert str(build_doc(await store.load(KEY)).get("t", type=Text)) == expected


async def test_an_older_snapshot_never_replaces_a_newer_one(store: SqliteStore) -> None:
    updates, expected = typed_updates(100)
    ids = await store.append([(KEY, u) for u in updates])
    full = build_doc(await store.load(KEY)).get_update()
    assert await store.compact(KEY, ids[-1], full)
    assert not await store.compact(KEY, ids[10], b"\x00\x00")
    assert str(build_doc(await store.load(KEY)).get("t", type=Text)) == expected


async def test_a_draft_that_cannot_be_compacted_does_not_stop_the_others(store: SqliteStore) -> None:
    from tests.waiting import wait_until

    bad, good = DraftKey("room1", "broken"), DraftKey("room1", "fine")
    updates, expected = typed_updates(50)
    await store.append([(bad, b"\x01\x01\x07\x00\x04\x01")])  # a row no document can take
    await store.append([(good, u) for u in updates])
    compactor = Compactor(store)
    compactor.start()
    compactor.request(bad)
    compactor.request(good)
    await wait_until(lambda: compactor.runs == 1 and compactor.failures == 1)
    await compactor.stop()
    assert str(build_doc(await store.load(good)).get("t", type=Text)) == expected
