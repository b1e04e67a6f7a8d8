"""The Hocuspocus codec against the provider's own bytes, and a document as a draft's peer (fast tier)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from pycrdt import Doc, Text

from hub.hocuspocus import HocusDoc, draft_key
from rooms import codec
from rooms import hocuspocus_codec as hp
from rooms.draft import Draft, Outgoing
from rooms.journal import Journal
from rooms.store import DraftKey
from tests.rooms.helpers import MemoryPeer, sqlite_journal, text_update

KEY = DraftKey("typhoon-drill", "brief")
ADDRESS = "typhoon-drill/brief"

# The first three frames of @hocuspocus/provider 4.8.0 for document "doc", token "tok", client 5.
PROVIDER_AUTH = bytes.fromhex("03646f63020003746f6b05342e382e30")
PROVIDER_STEP1 = bytes.fromhex("03646f6300000100")
PROVIDER_AWARENESS = bytes.fromhex("03646f630106010500027b7d")


def test_the_providers_first_frames_decode() -> None:
    auth = hp.decode_frame(PROVIDER_AUTH)
    assert (auth.address, auth.type, auth.text, auth.version) == ("doc", hp.HocusType.AUTH, "tok", "4.8.0")
    step1 = hp.decode_frame(PROVIDER_STEP1)
    assert (step1.type, step1.step, step1.message) == (hp.HocusType.SYNC, codec.SyncStep.STEP1, b"\x00\x00\x01\x00")
    awareness = hp.decode_frame(PROVIDER_AWARENESS)
    assert awareness.type == hp.HocusType.AWARENESS
    [message] = codec.decode_messages(awareness.message)
    assert message.payload == bytes.fromhex("010500027b7d")


def test_a_3x_token_has_no_version_and_names_are_utf8_byte_counted() -> None:
    frame = hp.prefix("同频/稿") + bytes((hp.HocusType.AUTH, hp.AuthType.TOKEN)) + codec.encode_var_string("令牌")
    assert frame[0] == len("同频/稿".encode())
    decoded = hp.decode_frame(frame)
    assert (decoded.address, decoded.text, decoded.version) == ("同频/稿", "令牌", None)
    assert draft_key(decoded.address) is None, "names follow the /yjs rules: ASCII only"
    assert draft_key("typhoon-drill/brief\0session-1") == KEY
    assert hp.document_name("typhoon-drill/brief\0session-1") == ADDRESS


def test_sync_reply_is_taken_as_sync_and_hub_messages_encode_as_the_provider_reads_them() -> None:
    reply = hp.decode_frame(hp.prefix("d") + b"\x04\x01\x02\x00\x00")
    assert (reply.type, reply.message) == (hp.HocusType.SYNC, b"\x00\x01\x02\x00\x00")
    prefix = hp.prefix("doc")
    assert hp.authenticated(prefix, read_only=True) == prefix + b"\x02\x02\x08readonly"
    assert hp.authenticated(prefix, read_only=False) == prefix + b"\x02\x02\x0aread-write"
    assert hp.permission_denied(prefix, "forbidden: 否") == prefix + b"\x02\x01" + codec.encode_var_string(
        "forbidden: 否"
    )
    assert hp.sync_status(prefix, True) == prefix + b"\x08\x01"
    assert hp.stateless(prefix, '{"a":"频"}'.encode()) == prefix + b"\x05" + codec.encode_var_string('{"a":"频"}')


@pytest.mark.parametrize(
    "frame",
    [
        b"",
        b"\x03do",  # the name runs past the end
        hp.prefix("d") + b"\x00\x00\x05\x00",  # a state vector longer than the frame
        hp.prefix("d") + b"\x03\x00",  # trailing bytes after query awareness
        hp.prefix("d") + b"\x05\x02\xff\xfe",  # stateless that is not UTF-8
        hp.prefix("d") + b"\x07\x01",  # a close reason that runs past the end
    ],
)
def test_malformed_frames_raise_decode_errors(frame: bytes) -> None:
    with pytest.raises(codec.DecodeError):
        hp.decode_frame(frame)


# -- a document as a draft's peer ----------------------------------------------------


class Recorder:
    """Stands in for a socket's connection: keeps what is sent."""

    def __init__(self) -> None:
        self.sent: list[Outgoing] = []
        self.close_code: int | None = None

    def send(self, out: Outgoing) -> None:
        self.sent.append(out)


def hocus_doc(address: str = ADDRESS) -> tuple[HocusDoc, Recorder]:
    conn = Recorder()
    socket: Any = SimpleNamespace(conn=conn)
    doc = HocusDoc(socket, address, KEY)
    doc.held = None  # as after the authenticated answer
    doc.read_only = False
    return doc, conn


@pytest.fixture
async def journal(tmp_path: Path) -> AsyncIterator[Journal]:
    async with sqlite_journal(tmp_path / "t.sqlite3") as running:
        yield running


async def test_a_broadcast_is_prefixed_and_framed_once_for_every_peer_with_the_address(journal: Journal) -> None:
    draft = Draft(KEY, Doc(), journal)
    (a, a_conn), (b, b_conn), (c, c_conn) = hocus_doc(), hocus_doc(), hocus_doc(ADDRESS + "\0s1")
    plain = MemoryPeer()
    for peer in (a, b, c, plain):
        draft.join(peer)
    for conn in (a_conn, b_conn, c_conn):
        conn.sent.clear()
    draft.receive(plain, codec.sync_update(text_update("同频")))
    [to_a], [to_b], [to_c] = a_conn.sent, b_conn.sent, c_conn.sent
    assert to_a is to_b, "one encoding and one frame for both"
    assert to_a.wire is to_b.wire
    [update] = codec.decode_messages(to_a.payload[len(hp.prefix(ADDRESS)) :])
    assert (update.type, update.step) == (codec.MessageType.SYNC, codec.SyncStep.UPDATE)
    assert to_c.payload.startswith(hp.prefix(ADDRESS + "\0s1")), "another address gets its own"
    assert to_a.payload[len(hp.prefix(ADDRESS)) :] == to_c.payload[len(hp.prefix(ADDRESS + "\0s1")) :]
    await journal.flush()


async def test_stored_updates_and_refused_ones_answer_with_sync_status(journal: Journal) -> None:
    draft = Draft(KEY, Doc(), journal)
    doc, conn = hocus_doc()
    draft.join(doc)
    conn.sent.clear()
    draft.receive(doc, codec.sync_update(text_update("稿", client_id=7)))
    await journal.flush()
    assert [o.payload for o in conn.sent] == [hp.sync_status(doc.prefix, True)]

    conn.sent.clear()
    draft.read_only = True  # a published draft refuses every peer's updates
    draft.receive(doc, codec.sync_update(text_update("改", client_id=8)))
    assert [o.payload for o in conn.sent] == [hp.sync_status(doc.prefix, False)]
    assert str(draft.doc.get("t", type=Text)) == "稿"
    assert draft.denied_in == 1


async def test_what_the_draft_sends_before_the_authenticated_answer_is_held(journal: Journal) -> None:
    draft = Draft(KEY, Doc(), journal)
    conn = Recorder()
    socket: Any = SimpleNamespace(conn=conn)
    doc = HocusDoc(socket, ADDRESS, KEY)
    draft.join(doc)
    assert conn.sent == [] and doc.held is not None and len(doc.held) == 1


def test_interleaved_addresses_still_share_one_encoding_each() -> None:
    from hub.hocuspocus import _PREFIXED

    out = Outgoing(codec.sync_update(b"\x00\x00"))
    one, two = hp.prefix("r/a"), hp.prefix("r/a\0s")
    first, other, again = _PREFIXED.get(out, one), _PREFIXED.get(out, two), _PREFIXED.get(out, one)
    assert first is again and first is not other
    assert first.payload == one + out.payload and other.payload == two + out.payload
    assert _PREFIXED.get(Outgoing(out.payload), one) is not first, "a new message is a new encoding"
