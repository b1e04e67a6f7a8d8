"""The Hocuspocus wire dialect: y-protocols messages addressed to one of many documents.

Every frame but the connection-level ping and pong starts with
``varString(address)``, then ``varUint(type)`` and the type's payload. The
address is the document name, or ``name + "\\0" + sessionId`` from providers
that multiplex one document several times (``sessionAwareness``); answers
go back to the address as sent. Types 0, 1 and 3 are the y-protocols
messages of ``rooms.codec`` as they are; the others belong to this dialect:

| type | name | payload |
|---|---|---|
| 2 | auth | client: ``varUint(0)`` token, ``varString(token)`` [, ``varString(version)``]; |
|   |      | hub: ``varUint(1)`` denied, ``varString(reason)``; ``varUint(2)`` authenticated, ``varString(scope)`` |
| 4 | sync reply | a sync message that asks for no step 1 back (server to server; taken as sync) |
| 5 | stateless | ``varString(payload)`` |
| 6 | broadcast stateless | server-internal: refused from clients |
| 7 | close | client: nothing (providers) or ``varString(reason)``: the client leaves the document; |
|   |       | hub: ``varString(reason)``: the hub ended the document (its rights ended), the socket goes on |
| 8 | sync status | hub: ``varUint(1)`` an update is stored, ``varUint(0)`` it was refused |
| 9, 10 | ping, pong | a one-byte frame with no address (connection level) |

Built on ``rooms.codec`` (UTF-8 byte lengths throughout).
"""

from __future__ import annotations

import enum
from typing import NamedTuple

from rooms.codec import DecodeError, Decoder, SyncStep, UnknownMessage, encode_var_bytes, encode_var_string

__all__ = [
    "KEEPALIVE",
    "MAX_ADDRESS_BYTES",
    "PING",
    "PONG",
    "AuthType",
    "Frame",
    "HocusType",
    "authenticated",
    "close",
    "decode_frame",
    "document_name",
    "permission_denied",
    "prefix",
    "stateless",
    "sync_status",
]

MAX_ADDRESS_BYTES = 256  # "room/draft" is at most 129; a session id adds a few


class HocusType(enum.IntEnum):
    SYNC = 0
    AWARENESS = 1
    AUTH = 2
    QUERY_AWARENESS = 3
    SYNC_REPLY = 4
    STATELESS = 5
    BROADCAST_STATELESS = 6
    CLOSE = 7
    SYNC_STATUS = 8
    PING = 9
    PONG = 10


class AuthType(enum.IntEnum):
    TOKEN = 0
    PERMISSION_DENIED = 1
    AUTHENTICATED = 2


PING = bytes((HocusType.PING,))
PONG = bytes((HocusType.PONG,))
# Keepalive for providers that know no ping (3.x): a frame addressed to no document. They note that a
# message came (their silence check) and find no provider named "", which no valid name can be.
KEEPALIVE = encode_var_string("") + PING

# Types a client may send with an address, and how the payload is laid out.
_Y_PROTOCOLS = frozenset({HocusType.SYNC, HocusType.SYNC_REPLY, HocusType.AWARENESS, HocusType.QUERY_AWARENESS})


class Frame(NamedTuple):
    """One decoded client frame.

    ``message`` is the y-protocols message (types 0, 1, 3; a sync reply is
    given as sync) for ``rooms.draft.Draft.receive``; ``text`` is the token
    (auth) or the payload (stateless); ``version`` the provider's version
    sent with a token, if any.
    """

    address: str
    type: HocusType
    step: int
    message: bytes
    text: str
    version: str | None


def decode_frame(data: bytes) -> Frame:
    """Decode and check one client frame: exactly one message after the address.

    ``UnknownMessage`` for a type or sub-type clients do not send,
    ``DecodeError`` for anything malformed. Payloads are checked for length
    only; the draft decodes them.
    """
    dec = Decoder(data)
    address = dec.var_string()
    if len(address) > MAX_ADDRESS_BYTES:
        raise DecodeError(f"a document address is at most {MAX_ADDRESS_BYTES} bytes")
    raw_type = dec.var_uint()
    try:
        kind = HocusType(raw_type)
    except ValueError:
        raise UnknownMessage(f"unknown message type {raw_type}") from None
    start = dec.pos
    step, text, version = 0, "", None
    if kind in _Y_PROTOCOLS:
        if kind is HocusType.SYNC or kind is HocusType.SYNC_REPLY:
            step = dec.var_uint()
            if step > SyncStep.UPDATE:
                raise UnknownMessage(f"unknown sync step {step}")
        if kind is not HocusType.QUERY_AWARENESS:
            _skip_bytes(dec)
        _at_end(dec)
        if kind is HocusType.SYNC_REPLY:
            return Frame(address, HocusType.SYNC, step, bytes((HocusType.SYNC,)) + data[start:], "", None)
        return Frame(address, kind, step, data[start - 1 :], "", None)
    if kind is HocusType.AUTH:
        sub = dec.var_uint()
        if sub != AuthType.TOKEN:
            raise UnknownMessage(f"auth sub-type {sub} is sent by the hub, not by clients")
        text = dec.var_string()
        if not dec.at_end():
            version = dec.var_string()
    elif kind is HocusType.STATELESS:
        text = dec.var_string()
    elif kind is HocusType.CLOSE:
        if not dec.at_end():
            text = dec.var_string()
    else:
        raise UnknownMessage(f"message type {kind.value} ({kind.name.lower()}) is not taken from clients")
    _at_end(dec)
    return Frame(address, kind, step, b"", text, version)


def _skip_bytes(dec: Decoder) -> None:
    n = dec.var_uint()
    if dec.pos + n > len(dec.buf):
        raise DecodeError("length runs past the end of the frame")
    dec.pos += n


def _at_end(dec: Decoder) -> None:
    if not dec.at_end():
        raise DecodeError("trailing bytes after the message: one message per frame")


def document_name(address: str) -> str:
    """The document an address names (without a ``\\0sessionId`` suffix)."""
    return address.partition("\0")[0]


def prefix(address: str) -> bytes:
    """What every frame to ``address`` starts with."""
    return encode_var_string(address)


def authenticated(prefix: bytes, read_only: bool) -> bytes:
    scope = "readonly" if read_only else "read-write"
    return prefix + bytes((HocusType.AUTH, AuthType.AUTHENTICATED)) + encode_var_string(scope)


def permission_denied(prefix: bytes, reason: str) -> bytes:
    return prefix + bytes((HocusType.AUTH, AuthType.PERMISSION_DENIED)) + encode_var_string(reason)


def close(prefix: bytes, reason: str) -> bytes:
    """The hub ends one document; providers take it as that document's close event (code 1000, ``reason``)."""
    return prefix + bytes((HocusType.CLOSE,)) + encode_var_string(reason)


def sync_status(prefix: bytes, stored: bool) -> bytes:
    return prefix + bytes((HocusType.SYNC_STATUS, 1 if stored else 0))


def stateless(prefix: bytes, payload: bytes) -> bytes:
    """A stateless message; ``payload`` is UTF-8 text (JSON here)."""
    return prefix + bytes((HocusType.STATELESS,)) + encode_var_bytes(payload)
