"""Draft message handling, driven by in-memory peers (fast tier)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from pycrdt import Doc, Text

from rooms import codec
from rooms.awareness import AwarenessEntry, encode_awareness
from rooms.draft import Draft
from rooms.errors import Closing
from rooms.journal import Journal
from rooms.store import DraftKey
from schema.close_codes import CloseCode
from tests.rooms.helpers import MemoryPeer, sqlite_journal, text_update

KEY = DraftKey("room1", "draft1")


@pytest.fixture
async def journal(tmp_path: Path) -> AsyncIterator[Journal]:
    async with sqlite_journal(tmp_path / "t.sqlite3") as running:
        yield running


def make_draft(journal: Journal) -> Draft:
    return Draft(KEY, Doc(), journal)


def text_of(draft: Draft) -> str:
    return str(draft.doc.get("t", type=Text))


async def test_update_is_applied_relayed_to_others_and_stored(journal: Journal) -> None:
    draft = make_draft(journal)
    a, b = MemoryPeer(), MemoryPeer()
    draft.join(a)
    draft.join(b)
    b.sent.clear()
    draft.receive(a, codec.sync_update(text_update("同频")))
    assert text_of(draft) == "同频"
    assert [m.step for m in b.messages()] == [codec.SyncStep.UPDATE]
    assert not any(m.step == codec.SyncStep.UPDATE for m in a.messages())
    await journal.flush()
    assert a.stored == 1
    stored = await journal.store.load(KEY)
    assert len(stored.updates) == 1


async def test_duplicate_update_is_not_relayed_and_empty_ones_are_not_logged(journal: Journal) -> None:
    draft = make_draft(journal)
    a, b = MemoryPeer(), MemoryPeer()
    draft.join(a)
    draft.join(b)
    update = text_update("重复")
    draft.receive(a, codec.sync_update(update))
    b.sent.clear()
    draft.receive(a, codec.sync_update(update))
    draft.receive(a, codec.sync_step2(b"\x00\x00"))
    assert b.sent == []
    await journal.flush()
    assert a.stored == 3
    assert len((await journal.store.load(KEY)).updates) == 2
    assert text_of(draft) == "重复"


async def test_corrupt_update_closes_sender_and_leaves_document_untouched(journal: Journal) -> None:
    draft = make_draft(journal)
    a, b = MemoryPeer(), MemoryPeer()
    draft.join(a)
    draft.join(b)
    draft.receive(a, codec.sync_update(text_update("原文")))
    before = draft.doc.get_update()
    b.sent.clear()
    with pytest.raises(Closing) as info:
        draft.receive(a, codec.sync_update(b"\x01\x01\x07\x00\x04\x01\x01\x74\x06\xe5\x90"))
    assert info.value.code == CloseCode.BAD_UPDATE
    assert draft.doc.get_update() == before
    assert b.sent == []


@pytest.mark.parametrize(
    ("frame", "code"),
    [
        (b"\xde\xad\xbe\xef", CloseCode.BAD_FRAME),
        (b"\xde\x01", CloseCode.UNKNOWN_MESSAGE),
        (b"\x00\x02\x85", CloseCode.BAD_FRAME),
        (b"\x07", CloseCode.UNKNOWN_MESSAGE),
        (b"\x01\x03\x01\x01", CloseCode.BAD_FRAME),
    ],
)
async def test_bad_frames_raise_their_close_code(journal: Journal, frame: bytes, code: CloseCode) -> None:
    draft = make_draft(journal)
    peer = MemoryPeer()
    draft.join(peer)
    with pytest.raises(Closing) as info:
        draft.receive(peer, frame)
    assert info.value.code == code


async def test_read_only_peer_is_denied_and_nothing_applied(journal: Journal) -> None:
    draft = make_draft(journal)
    viewer, editor = MemoryPeer(read_only=True), MemoryPeer()
    draft.join(viewer)
    draft.join(editor)
    draft.receive(viewer, codec.sync_update(text_update("越权")))
    assert text_of(draft) == ""
    assert any(m.type == codec.MessageType.AUTH for m in viewer.messages())
    viewer.sent.clear()
    draft.receive(editor, codec.sync_update(text_update("正文", client_id=2)))
    assert any(m.step == codec.SyncStep.UPDATE for m in viewer.messages())


async def test_step1_answer_contains_the_document(journal: Journal) -> None:
    draft = make_draft(journal)
    draft.apply_remote_update(text_update("已存"), origin=None)  # type: ignore[arg-type]
    peer = MemoryPeer()
    draft.join(peer)
    draft.receive(peer, codec.sync_step1(b"\x00"))
    step2 = [m for m in peer.messages() if m.step == codec.SyncStep.STEP2]
    doc: Doc[Text] = Doc()
    doc.apply_update(step2[0].payload)
    assert str(doc.get("t", type=Text)) == "已存"


async def test_leaving_peer_removes_its_carets_for_everyone(journal: Journal) -> None:
    draft = make_draft(journal)
    a, b = MemoryPeer(), MemoryPeer()
    draft.join(a)
    draft.join(b)
    draft.receive(a, codec.awareness_message(encode_awareness([AwarenessEntry(11, 3, '{"user":"甲"}')])))
    b.sent.clear()
    draft.leave(a)
    (msg,) = b.messages()
    assert msg.type == codec.MessageType.AWARENESS
    assert msg.payload == encode_awareness([AwarenessEntry(11, 3, "null")])
    c = MemoryPeer()
    draft.join(c)
    assert not any(m.type == codec.MessageType.AWARENESS for m in c.messages())


async def test_update_waiting_for_dependencies_is_logged_and_survives_a_reload(journal: Journal) -> None:
    writer: Doc[Text] = Doc(client_id=5)
    text = writer.get("t", type=Text)
    text += "先"
    first = writer.get_update()
    before = writer.get_state()
    text += "后"
    second = writer.get_update(before)
    draft = make_draft(journal)
    peer = MemoryPeer()
    draft.join(peer)
    draft.receive(peer, codec.sync_update(second))  # arrives before its dependency
    assert text_of(draft) == ""
    await journal.flush()
    assert peer.stored == 1
    stored = await journal.store.load(KEY)
    assert stored.updates == [second], "an update counted as stored is in the log"
    reloaded: Doc[Text] = Doc()
    for u in [*stored.updates, first]:
        reloaded.apply_update(u)
    assert str(reloaded.get("t", type=Text)) == "先后"
