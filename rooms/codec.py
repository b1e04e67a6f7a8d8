"""The one codec for the Yjs wire formats (lib0 encodings, y-protocols messages).

Sockets, the broker and the tests all encode and decode through this module.
lib0's ``varString`` length is the UTF-8 *byte* count; pycrdt's
``Encoder.write_var_string`` writes a character count, which corrupts any
frame holding Chinese text, so nothing here uses it.
"""

from __future__ import annotations

import enum
from collections.abc import Iterator
from typing import NamedTuple

__all__ = [
    "DecodeError",
    "Decoder",
    "Message",
    "MessageType",
    "SyncStep",
    "UnknownMessage",
    "awareness_message",
    "decode_messages",
    "decode_state_vector",
    "encode_var_bytes",
    "encode_var_string",
    "encode_var_uint",
    "permission_denied",
    "stored_message",
    "sync_step1",
    "sync_step2",
    "sync_update",
    "ws_binary_frame",
    "ws_text_frame",
]

MAX_VAR_UINT_BYTES = 8  # 2**56: far above any length a frame limit allows


class DecodeError(ValueError):
    """The bytes are not a well-formed message."""


class UnknownMessage(DecodeError):
    """A well-formed varUint names a message type or sync step we do not know."""


class MessageType(enum.IntEnum):
    SYNC = 0
    AWARENESS = 1
    AUTH = 2
    QUERY_AWARENESS = 3
    # Tongpin extension, sent only to clients that ask for it (``?stored=1``):
    # varUint(n) = this connection's first n updates are durable.
    STORED = 100


class SyncStep(enum.IntEnum):
    STEP1 = 0
    STEP2 = 1
    UPDATE = 2


def encode_var_uint(n: int) -> bytes:
    if n < 0:
        raise ValueError("varUint must be non-negative")
    if n < 0x80:
        return bytes((n,))
    out = bytearray()
    while n >= 0x80:
        out.append((n & 0x7F) | 0x80)
        n >>= 7
    out.append(n)
    return bytes(out)


def encode_var_bytes(data: bytes) -> bytes:
    return encode_var_uint(len(data)) + data


def encode_var_string(text: str) -> bytes:
    return encode_var_bytes(text.encode("utf-8"))


class Decoder:
    """Reads lib0 encodings from a buffer; every overrun raises DecodeError."""

    __slots__ = ("buf", "pos")

    def __init__(self, buf: bytes) -> None:
        self.buf = buf
        self.pos = 0

    def at_end(self) -> bool:
        return self.pos >= len(self.buf)

    def var_uint(self) -> int:
        buf, pos = self.buf, self.pos
        result = 0
        shift = 0
        for i in range(MAX_VAR_UINT_BYTES):
            if pos + i >= len(buf):
                raise DecodeError("truncated varUint")
            byte = buf[pos + i]
            result |= (byte & 0x7F) << shift
            if byte < 0x80:
                self.pos = pos + i + 1
                return result
            shift += 7
        raise DecodeError("varUint too long")

    def var_bytes(self) -> bytes:
        n = self.var_uint()
        end = self.pos + n
        if end > len(self.buf):
            raise DecodeError("length runs past the end of the frame")
        data = self.buf[self.pos : end]
        self.pos = end
        return data

    def var_string(self) -> str:
        try:
            return self.var_bytes().decode("utf-8")
        except UnicodeDecodeError as exc:
            raise DecodeError("string is not UTF-8") from exc


class Message(NamedTuple):
    """One decoded top-level message. ``step`` is set for sync messages only."""

    type: int
    step: int
    payload: bytes


def decode_messages(frame: bytes) -> Iterator[Message]:
    """Yield every message in a frame: a client may pack several (docs/CLIENTS.md).

    Unknown types are yielded as they are so the caller decides; a malformed
    frame raises DecodeError before or while yielding.
    """
    if not frame:
        raise DecodeError("empty frame")
    dec = Decoder(frame)
    while not dec.at_end():
        kind = dec.var_uint()
        if kind == MessageType.SYNC:
            step = dec.var_uint()
            if step > SyncStep.UPDATE:
                raise UnknownMessage(f"unknown sync step {step}")
            yield Message(kind, step, dec.var_bytes())
        elif kind == MessageType.AWARENESS:
            yield Message(kind, 0, dec.var_bytes())
        elif kind == MessageType.QUERY_AWARENESS:
            yield Message(kind, 0, b"")
        elif kind == MessageType.AUTH:
            sub = dec.var_uint()
            yield Message(kind, sub, dec.var_string().encode("utf-8"))
        else:
            raise UnknownMessage(f"unknown message type {kind}")


def decode_state_vector(data: bytes) -> dict[int, int]:
    """A Yjs state vector as {client id: clock}."""
    dec = Decoder(data)
    n = dec.var_uint()
    clocks = {}
    for _ in range(n):
        client = dec.var_uint()
        clocks[client] = dec.var_uint()
    return clocks


def sync_step1(state_vector: bytes) -> bytes:
    return b"\x00\x00" + encode_var_bytes(state_vector)


def sync_step2(update: bytes) -> bytes:
    return b"\x00\x01" + encode_var_bytes(update)


def sync_update(update: bytes) -> bytes:
    return b"\x00\x02" + encode_var_bytes(update)


def awareness_message(update: bytes) -> bytes:
    return b"\x01" + encode_var_bytes(update)


def permission_denied(reason: str) -> bytes:
    return b"\x02\x00" + encode_var_string(reason)


def stored_message(count: int) -> bytes:
    return encode_var_uint(MessageType.STORED) + encode_var_uint(count)


def ws_binary_frame(payload: bytes) -> bytes:
    """A complete unmasked server-to-client binary WebSocket frame (RFC 6455).

    Server frames carry no mask, so the same bytes serve every receiver: a
    broadcast is framed once and written to each socket as it is.
    """
    return _ws_frame(0x82, payload)


def ws_text_frame(payload: bytes) -> bytes:
    """As ``ws_binary_frame``, for a text frame: ``payload`` must be UTF-8."""
    return _ws_frame(0x81, payload)


def _ws_frame(first: int, payload: bytes) -> bytes:
    n = len(payload)
    if n < 126:
        header = bytes((first, n))
    elif n < 0x10000:
        header = bytes((first, 126)) + n.to_bytes(2, "big")
    else:
        header = bytes((first, 127)) + n.to_bytes(8, "big")
    return header + payload
