"""The one codec of ``WS /live`` frames: JSON text, encoded with orjson.

Client commands are decoded and checked here, strictly: a frame that is not
one well-formed command is answered with an ``error`` frame naming what is
wrong, and nothing else happens. Hub frames are built here and returned as
complete WebSocket text frames, ready to be written as they are to any
number of sockets. ``schema/live.schema.json`` is the contract for both
directions; the tests check real traffic against it.
"""

from __future__ import annotations

import enum
from typing import Any, NamedTuple

import orjson

from rooms.channels import BadChannel, Channel, Kind, parse_channel
from rooms.codec import ws_text_frame
from rooms.fanout import Since
from rooms.names import valid_name

__all__ = [
    "MAX_COMMAND_BYTES",
    "PROTOCOL",
    "Command",
    "CommandError",
    "ErrorCode",
    "Ping",
    "SetPresence",
    "Subscribe",
    "Unsubscribe",
    "decode_command",
    "decode_object",
    "frame",
]

PROTOCOL = 1
MAX_COMMAND_BYTES = 4096
MAX_ID = 2**53 - 1  # ids survive a round trip through a JavaScript number
MAX_EPOCH_CHARS = 64


class ErrorCode(enum.StrEnum):
    BAD_JSON = "bad_json"  # not JSON, or not a JSON object
    BINARY = "binary"  # a binary frame: commands are text
    TOO_LARGE = "too_large"  # over MAX_COMMAND_BYTES
    UNKNOWN_TYPE = "unknown_type"
    BAD_FIELD = "bad_field"  # a field missing, of the wrong type or out of range, or unknown
    BAD_CHANNEL = "bad_channel"
    OUT_OF_ORDER = "out_of_order"  # id not above the previous command's
    ALREADY_SUBSCRIBED = "already_subscribed"
    NOT_SUBSCRIBED = "not_subscribed"
    FORBIDDEN = "forbidden"
    TOO_MANY_SUBSCRIPTIONS = "too_many_subscriptions"
    UNAVAILABLE = "unavailable"  # the store is down; retry the command later


class CommandError(Exception):
    """A command refused; becomes one ``error`` frame."""

    def __init__(self, code: ErrorCode, message: str, *, id: int | None = None, channel: str | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.id = id
        self.channel = channel

    def frame(self) -> bytes:
        body: dict[str, Any] = {"type": "error", "id": self.id, "code": self.code.value, "message": self.message}
        if self.channel is not None:
            body["channel"] = self.channel
        return frame(body)


class Subscribe(NamedTuple):
    id: int
    channel: Channel
    since: Since | None
    presence: bool  # room channels only: appear in, and receive, the room's presence


class Unsubscribe(NamedTuple):
    id: int
    channel: Channel


class SetPresence(NamedTuple):
    id: int
    channel: Channel  # a room channel
    draft: str | None
    state: str  # "active" or "idle"


class Ping(NamedTuple):
    id: int


Command = Subscribe | Unsubscribe | SetPresence | Ping

_FIELDS = {
    "subscribe": ({"type", "id", "channel"}, {"since", "presence"}),
    "unsubscribe": ({"type", "id", "channel"}, set()),
    "presence": ({"type", "id", "channel"}, {"draft", "state"}),
    "ping": ({"type", "id"}, set()),
}


def decode_object(text: str) -> dict[str, Any]:
    """A command's JSON object, at most ``MAX_COMMAND_BYTES``; ``CommandError`` if it is not one.

    Shared by ``/live`` and the Hocuspocus stateless commands (``hub.hocuspocus_live``).
    """
    if len(text) > MAX_COMMAND_BYTES or len(text.encode("utf-8")) > MAX_COMMAND_BYTES:
        raise CommandError(ErrorCode.TOO_LARGE, f"a command is at most {MAX_COMMAND_BYTES} bytes")
    try:
        body = orjson.loads(text)
    except orjson.JSONDecodeError:
        raise CommandError(ErrorCode.BAD_JSON, "a command is one JSON object") from None
    if not isinstance(body, dict):
        raise CommandError(ErrorCode.BAD_JSON, "a command is one JSON object")
    return body


def decode_command(text: str | None, data: bytes | None) -> Command:
    """Decode one client frame; ``CommandError`` says what is wrong with it."""
    if text is None:
        raise CommandError(ErrorCode.BINARY, "commands are JSON text frames, not binary")
    body = decode_object(text)
    raw_id = body.get("id")
    id_ = raw_id if type(raw_id) is int and 1 <= raw_id <= MAX_ID else None
    kind = body.get("type")
    if not isinstance(kind, str) or kind not in _FIELDS:
        raise CommandError(ErrorCode.UNKNOWN_TYPE, "type is one of: subscribe, unsubscribe, presence, ping", id=id_)
    required, optional = _FIELDS[kind]
    missing = required - body.keys()
    if missing:
        raise CommandError(ErrorCode.BAD_FIELD, f"{kind} needs: {', '.join(sorted(missing))}", id=id_)
    unknown = body.keys() - required - optional
    if unknown:
        raise CommandError(ErrorCode.BAD_FIELD, f"{kind} has unknown fields: {', '.join(sorted(unknown))}", id=id_)
    if id_ is None:
        raise CommandError(ErrorCode.BAD_FIELD, f"id is an integer from 1 to {MAX_ID}")
    if kind == "ping":
        return Ping(id_)
    channel = _channel(body["channel"], id_)
    if kind == "unsubscribe":
        return Unsubscribe(id_, channel)
    if kind == "subscribe":
        presence = body.get("presence", channel.kind is Kind.ROOM)
        if not isinstance(presence, bool):
            raise CommandError(ErrorCode.BAD_FIELD, "presence is true or false", id=id_, channel=channel.name)
        if presence and channel.kind is not Kind.ROOM:
            raise CommandError(ErrorCode.BAD_FIELD, "presence is for room channels", id=id_, channel=channel.name)
        return Subscribe(id_, channel, _since(body.get("since"), id_, channel), presence)
    if channel.kind is not Kind.ROOM:
        raise CommandError(ErrorCode.BAD_FIELD, "presence is for room channels", id=id_, channel=channel.name)
    draft = body.get("draft")
    if draft is not None and (not isinstance(draft, str) or not valid_name(draft)):
        raise CommandError(ErrorCode.BAD_FIELD, "draft is null or a draft name", id=id_, channel=channel.name)
    state = body.get("state", "active")
    if state not in ("active", "idle"):
        raise CommandError(ErrorCode.BAD_FIELD, "state is active or idle", id=id_, channel=channel.name)
    return SetPresence(id_, channel, draft, state)


def _channel(value: object, id_: int) -> Channel:
    try:
        return parse_channel(value)
    except BadChannel as exc:
        name = value if isinstance(value, str) and len(value) <= 100 else None
        raise CommandError(ErrorCode.BAD_CHANNEL, str(exc), id=id_, channel=name) from None


def _since(value: object, id_: int, channel: Channel) -> Since | None:
    if value is None:
        return None
    fail = CommandError(
        ErrorCode.BAD_FIELD,
        "since is {epoch: string, offset: integer >= 0}, as the last event received",
        id=id_,
        channel=channel.name,
    )
    if not isinstance(value, dict) or value.keys() != {"epoch", "offset"}:
        raise fail
    epoch, offset = value["epoch"], value["offset"]
    if not isinstance(epoch, str) or not 0 < len(epoch) <= MAX_EPOCH_CHARS:
        raise fail
    if type(offset) is not int or not 0 <= offset <= MAX_ID:
        raise fail
    return Since(epoch, offset)


def frame(body: dict[str, Any]) -> bytes:
    """One hub frame, JSON-encoded and framed as a WebSocket text frame."""
    return ws_text_frame(orjson.dumps(body))
