"""The fast tier of read-only drafts: ``Draft.read_only`` and the registry's load-time question."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from pycrdt import Text

from rooms import codec
from rooms.journal import Journal
from rooms.registry import Registry
from rooms.sqlite_store import SqliteStore
from rooms.store import DraftKey, StoreUnavailable
from tests.rooms.helpers import MemoryPeer, text_update

KEY = DraftKey("typhoon-drill", "d1")


@pytest.fixture
async def parts(tmp_path: Path) -> AsyncIterator[tuple[SqliteStore, Journal]]:
    store = SqliteStore(tmp_path / "r.sqlite3")
    await store.open()
    journal = Journal(store)
    journal.start()
    yield store, journal
    await journal.stop(5)
    await store.close()


def denials(peer: MemoryPeer) -> list[bytes]:
    return [m.payload for m in peer.messages() if m.type == codec.MessageType.AUTH]


async def test_a_read_only_draft_refuses_every_peer_and_relays_nothing(
    parts: tuple[SqliteStore, Journal],
) -> None:
    store, journal = parts
    await store.append([(KEY, text_update("定稿", client_id=7))])
    published = {KEY}

    async def is_read_only(key: DraftKey) -> bool:
        return key in published

    registry = Registry(store, journal, is_read_only=is_read_only)
    writer, other = MemoryPeer(), MemoryPeer()
    draft = await registry.join(KEY, writer)
    await registry.join(KEY, other)
    assert draft.read_only
    before = len(other.sent)
    draft.receive(writer, codec.sync_update(text_update("改", client_id=8)))
    assert str(draft.doc.get("t", type=Text)) == "定稿"
    assert denials(writer) == [b"published: the draft is read-only"]
    assert draft.denied_in == 1 and journal.backlog == 0 and len(other.sent) == before
    draft.receive(writer, codec.sync_update(b"\x00\x00"))  # the empty update is no write: no denial
    assert draft.denied_in == 1

    draft.read_only = False  # the flag is the draft's, whatever the peers' rights
    draft.receive(writer, codec.sync_update(text_update("改", client_id=8)))
    assert draft.updates_in == 1 and len(other.sent) == before + 1


async def test_the_question_is_part_of_the_load(parts: tuple[SqliteStore, Journal]) -> None:
    store, journal = parts
    calls = 0

    async def failing(key: DraftKey) -> bool:
        nonlocal calls
        calls += 1
        if calls == 1:
            raise StoreUnavailable("review store down")
        return False

    registry = Registry(store, journal, is_read_only=failing)
    with pytest.raises(StoreUnavailable):
        await registry.join(KEY, MemoryPeer())
    assert KEY not in registry.open and registry.load_failures == 1  # never opened writable by mistake
    draft = await registry.join(KEY, MemoryPeer())
    assert not draft.read_only and calls == 2
