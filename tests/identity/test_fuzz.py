"""Fuzzing the frame decoder and the sync handler with random and mutated frames.

A unit test by design: frames go straight to ``rooms.codec.decode_messages``
and to ``Draft.receive`` with an in-memory peer (``tests/rooms/helpers``),
which is the code a socket's frame reaches after the rate limit. Found must
be: no exception but the typed ones (``DecodeError``, ``Closing``), no hang
(a per-example deadline far above the microseconds a frame takes), no task
left behind, every frame the draft sends back well-formed, and a read-only
peer never changing the document. Examples are bounded so this runs in
seconds.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import timedelta
from typing import Any

from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from pycrdt import Array, Doc, Map, Text

from rooms import codec
from rooms.awareness import AwarenessEntry, encode_awareness
from rooms.draft import Draft
from rooms.errors import Closing
from rooms.journal import Journal
from rooms.store import DraftKey
from tests.rooms.helpers import MemoryPeer

FUZZ = settings(
    max_examples=400,
    deadline=timedelta(seconds=1),
    suppress_health_check=[HealthCheck.too_slow],
    derandomize=True,  # the same examples every run: CI never flakes on a new find
)


def _seed_frames() -> tuple[bytes, list[bytes]]:
    doc: Doc[Any] = Doc(client_id=7)
    updates: list[bytes] = []
    doc.observe(lambda event: updates.append(event.update))
    text = doc.get("t", type=Text)
    text.insert(0, "同频")
    text.insert(len(text), " 新闻")
    doc.get("m", type=Map)["k"] = "值"
    doc.get("a", type=Array).append(1)
    del text[0:3]
    awareness = encode_awareness([AwarenessEntry(1234567, 1, '{"user":{"name":"陈志明"}}')])
    gone = encode_awareness([AwarenessEntry(1234567, 2, "null")])
    frames = [
        codec.sync_step1(b"\x00"),
        codec.sync_step1(doc.get_state()),
        codec.sync_step2(doc.get_update()),
        *(codec.sync_update(u) for u in updates),
        codec.awareness_message(awareness),
        codec.awareness_message(gone),
        b"\x03",
        codec.permission_denied("auth from a client"),
        bytes.fromhex("0100"),
    ]
    frames.append(frames[1] + frames[3] + frames[-3])  # several messages in one frame
    return doc.get_update(), frames


SEED_UPDATE, SEEDS = _seed_frames()

# Found by this test: a 17-byte update that made Yrs panic (PanicException, a
# BaseException) until ``rooms.draft.refused_by_yrs`` turned it into a 4001 close.
YRS_PANIC = [
    bytes.fromhex("000003010707000210010107000401017406e5908ce9a2910003"),
    bytes.fromhex("000211010107052801016d0000016b010c6f08d14b9d3edc7703e580bc00000210010107028407010720e696b0e997bb00"),
]


@st.composite
def mutated(draw: st.DrawFn) -> bytes:
    frame = bytearray(draw(st.sampled_from(SEEDS)))
    for _ in range(draw(st.integers(1, 4))):
        op = draw(st.sampled_from(["flip", "truncate", "insert", "delete", "splice", "varint"]))
        at = draw(st.integers(0, max(0, len(frame) - 1)))
        if op == "flip" and frame:
            frame[at] ^= 1 << draw(st.integers(0, 7))
        elif op == "truncate":
            del frame[at:]
        elif op == "insert":
            frame[at:at] = draw(st.binary(min_size=1, max_size=8))
        elif op == "delete" and frame:
            del frame[at : at + draw(st.integers(1, 4))]
        elif op == "splice":
            frame += draw(st.sampled_from(SEEDS))
        elif op == "varint":  # a huge or endless length where a length goes
            frame[at:at] = draw(st.sampled_from([b"\xff" * 9, b"\x80" * 8 + b"\x01", b"\xff\xff\xff\xff\x0f"]))
    return bytes(frame)


FRAMES = st.one_of(st.binary(max_size=64), mutated(), st.sampled_from(SEEDS))


def without_leaks(check: Callable[[], None]) -> None:
    """Run ``check`` on a fresh event loop and fail if it leaves a task behind."""

    async def run() -> None:
        before = asyncio.all_tasks()
        check()
        await asyncio.sleep(0)
        leaked = asyncio.all_tasks() - before
        assert not leaked, leaked

    asyncio.run(run())


def fresh_draft() -> Draft:
    doc: Doc[Any] = Doc()
    doc.apply_update(SEED_UPDATE)  # some content to diff against
    journal = Journal(store=None, max_backlog=10**6)  # type: ignore[arg-type]  # never started: append only queues
    return Draft(DraftKey("fuzz", "d"), doc, journal)


@FUZZ
@given(frame=FRAMES)
def test_the_frame_decoder_only_ever_raises_decode_error(frame: bytes) -> None:
    try:
        messages = list(codec.decode_messages(frame))
    except codec.DecodeError:
        return
    for message in messages:
        assert message.type in (0, 1, 2, 3)
        assert isinstance(message.payload, bytes) and len(message.payload) <= len(frame)


@FUZZ
@given(frames=st.lists(FRAMES, min_size=1, max_size=5), read_only=st.booleans())
@example(frames=YRS_PANIC, read_only=False)
def test_the_sync_handler_survives_any_frames(frames: list[bytes], read_only: bool) -> None:
    def check() -> None:
        draft = fresh_draft()
        peer, other = MemoryPeer(read_only=read_only), MemoryPeer()
        draft.join(peer)
        draft.join(other)
        state = draft.doc.get_state()
        for frame in frames:
            try:
                draft.receive(peer, frame)
            except Closing as closing:
                assert 1000 <= closing.code < 5000
                break
        # Everything the draft sent back decodes, and the document still works.
        for sent in peer.sent + other.sent:
            list(codec.decode_messages(sent))
        draft.doc.get_update()
        if read_only:
            assert draft.doc.get_state() == state, "a read-only peer changed the document"
            assert draft.updates_in == 0
        draft.leave(peer)
        draft.leave(other)
        assert len(draft.awareness.live()) == 0  # no ghost left behind
        draft.close()

    without_leaks(check)
