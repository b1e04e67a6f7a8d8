"""The codec against the vectors the real npm clients produced (shared/PROTOCOLS.md)."""

from __future__ import annotations

import pytest
from pycrdt import Doc, Text

from rooms import codec
from rooms.awareness import AwarenessEntry, decode_awareness, encode_awareness

HI_UPDATE = bytes.fromhex("010101000401017402686900")
TONGPIN_UPDATE = bytes.fromhex("01010700040101740 6e5908ce9a29100".replace(" ", ""))


@pytest.mark.parametrize(
    ("n", "hex_"),
    [(0, "00"), (1, "01"), (127, "7f"), (128, "8001"), (300, "ac02"), (1234567, "87ad4b")],
)
def test_var_uint_round_trip(n: int, hex_: str) -> None:
    assert codec.encode_var_uint(n).hex() == hex_
    assert codec.Decoder(bytes.fromhex(hex_)).var_uint() == n


def test_var_string_counts_utf8_bytes() -> None:
    encoded = codec.encode_var_string("同频")
    assert encoded[0] == 6
    assert codec.Decoder(encoded).var_string() == "同频"


def test_sync_vectors() -> None:
    assert codec.sync_step1(b"\x00").hex() == "00000100"
    assert codec.sync_step2(b"\x00\x00").hex() == "0001020000"
    assert codec.sync_update(HI_UPDATE) == bytes.fromhex("00020c") + HI_UPDATE


def test_vectors_are_real_yjs_updates() -> None:
    doc: Doc[Text] = Doc()
    doc.apply_update(HI_UPDATE)
    assert str(doc.get("t", type=Text)) == "hi"
    assert doc.get_state().hex() == "010102"
    doc2: Doc[Text] = Doc()
    doc2.apply_update(TONGPIN_UPDATE)
    assert str(doc2.get("t", type=Text)) == "同频"


def test_awareness_vector() -> None:
    frame = bytes.fromhex("010d0187ad4b01077b2261223a317d")
    (msg,) = codec.decode_messages(frame)
    assert msg.type == codec.MessageType.AWARENESS
    entries = decode_awareness(msg.payload)
    assert entries == [AwarenessEntry(1234567, 1, '{"a":1}')]
    assert codec.awareness_message(encode_awareness(entries)) == frame


def test_several_messages_in_one_frame() -> None:
    frame = codec.sync_step1(b"\x00") + codec.sync_update(HI_UPDATE) + b"\x03"
    kinds = [(m.type, m.step) for m in codec.decode_messages(frame)]
    assert kinds == [(0, 0), (0, 2), (3, 0)]


@pytest.mark.parametrize(
    ("frame", "why"),
    [
        (b"", "empty"),
        (b"\x00", "truncated"),
        (b"\x00\x02\x80", "truncated varUint"),
        (b"\x00\x02\x05ab", "runs past"),
        (b"\x00\x07\x00", "unknown sync step"),
        (b"\x09", "unknown message type"),
        (b"\xff" * 12, "too long"),
    ],
)
def test_malformed_frames_raise(frame: bytes, why: str) -> None:
    with pytest.raises(codec.DecodeError):
        list(codec.decode_messages(frame))


def test_ws_frame_lengths() -> None:
    assert codec.ws_binary_frame(b"ab") == b"\x82\x02ab"
    mid = codec.ws_binary_frame(b"x" * 300)
    assert mid[:4] == b"\x82\x7e\x01\x2c" and len(mid) == 304
    big = codec.ws_binary_frame(b"x" * 70000)
    assert big[:2] == b"\x82\x7f" and int.from_bytes(big[2:10], "big") == 70000


def test_permission_denied_and_stored() -> None:
    denied = codec.permission_denied("只读")
    (msg,) = codec.decode_messages(denied)
    assert msg.type == codec.MessageType.AUTH and msg.payload.decode() == "只读"
    assert codec.stored_message(300) == bytes.fromhex("64ac02")


def test_decode_state_vector() -> None:
    assert codec.decode_state_vector(bytes.fromhex("010102")) == {1: 2}
    assert codec.decode_state_vector(b"\x00") == {}
