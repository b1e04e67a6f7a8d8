"""Publishing live events: the one API workers and HTTP handlers use.

An event is published to one or more channels. Each channel gives it the
channel's next offset; the store commits it before anyone hears of it, and
then it is *announced*: handed to this node's subscribers and, through the
broker, to every other node's.

Two ways to publish:

- ``await publisher.publish(channels, type, data)`` when the event is the
  whole change (a worker's alert, the HTTP endpoint). It commits the event in
  its own transaction, then announces it.
- Inside the transaction of the business change that causes the event, so
  the change and its event commit together or not at all. SQLite, on any
  connection to the database, inside ``BEGIN IMMEDIATE``::

      def change(db: sqlite3.Connection) -> list[Event]:
          db.execute("UPDATE ...")  # the business change
          return sqlite_events.append_in(db, [Publication.of(["unit:humen"], "dispatch.assigned", {...})])

      events = await event_store.transact(change)  # or the caller's own connection and thread
      publisher.announce(events)  # after COMMIT, never before

  PostgreSQL, on any asyncpg connection, inside ``conn.transaction()``::

      async with conn.transaction():
          await conn.execute("UPDATE ...")
          events = await postgres_events.append_in(conn, [Publication.of(...)])
      publisher.announce(events)

If the process dies between commit and ``announce``, nothing is lost: the
events are in the store, and every node's poll (``rooms.fanout``) finds them
within a few seconds and delivers them in order.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Sequence
from typing import Any, NamedTuple

import orjson

from rooms.channels import BadChannel, parse_channel
from rooms.codec import DecodeError, Decoder, encode_var_bytes, encode_var_string, encode_var_uint, ws_text_frame
from rooms.event_store import EventStore, IdempotencyKey, Published

__all__ = [
    "MAX_CHANNELS_PER_EVENT",
    "MAX_DATA_BYTES",
    "TYPE_PATTERN",
    "BadPublication",
    "Event",
    "Publication",
    "Publisher",
    "decode_events",
    "encode_events",
]

TYPE_PATTERN = re.compile(r"[a-z][a-z0-9_.-]{0,63}")
MAX_DATA_BYTES = 64 * 1024
MAX_CHANNELS_PER_EVENT = 16


class BadPublication(ValueError):
    """A publication that may not be published (the message says why)."""


class Event:
    """One committed event on one channel. Its wire frame is encoded once."""

    __slots__ = ("_frame", "at", "channel", "data", "epoch", "offset", "type")

    def __init__(self, channel: str, epoch: str, offset: int, type: str, data: bytes, at: float) -> None:
        self.channel = channel
        self.epoch = epoch
        self.offset = offset
        self.type = type
        self.data = data  # JSON text, exactly as published
        self.at = at
        self._frame: bytes | None = None

    def payload(self) -> bytes:
        """The ``event`` frame's JSON (``schema/live.schema.json``)."""
        return orjson.dumps(
            {
                "type": "event",
                "channel": self.channel,
                "epoch": self.epoch,
                "offset": self.offset,
                "event": self.type,
                "at": self.at,
                "data": orjson.Fragment(self.data),
            }
        )

    def frame(self) -> bytes:
        """The complete WebSocket text frame, the same bytes for every receiver."""
        if self._frame is None:
            self._frame = ws_text_frame(self.payload())
        return self._frame

    def __repr__(self) -> str:
        return f"Event({self.channel}@{self.epoch}:{self.offset} {self.type})"


class Publication(NamedTuple):
    """One event to publish on some channels; ``data`` is JSON text."""

    channels: tuple[str, ...]
    type: str
    data: bytes

    @classmethod
    def of(cls, channels: Iterable[str], type: str, data: Any) -> Publication:
        """Validate and encode (``BadPublication`` when something is wrong)."""
        try:
            encoded = orjson.dumps(data)
        except TypeError as exc:
            raise BadPublication(f"data is not JSON: {exc}") from None
        return cls.checked(tuple(channels), type, encoded)

    @classmethod
    def checked(cls, channels: tuple[str, ...], type: str, data: bytes) -> Publication:
        if not channels or len(channels) > MAX_CHANNELS_PER_EVENT:
            raise BadPublication(f"an event goes to 1 to {MAX_CHANNELS_PER_EVENT} channels")
        if len(set(channels)) != len(channels):
            raise BadPublication("a channel is named twice")
        for name in channels:
            try:
                parse_channel(name)
            except BadChannel as exc:
                raise BadPublication(f"bad channel {name!r}: {exc}") from None
        if not isinstance(type, str) or TYPE_PATTERN.fullmatch(type) is None:
            raise BadPublication("an event type is 1-64 of a-z 0-9 _ . - and starts with a letter")
        if len(data) > MAX_DATA_BYTES:
            raise BadPublication(f"event data is at most {MAX_DATA_BYTES} bytes of JSON")
        return cls(channels, type, data)


# -- events between nodes ------------------------------------------------------


def encode_events(events: Sequence[Event]) -> bytes:
    """Events as they travel on the broker (lib0 encodings, ``rooms.codec``)."""
    parts = [encode_var_uint(len(events))]
    for e in events:
        parts += (
            encode_var_string(e.channel),
            encode_var_string(e.epoch),
            encode_var_uint(e.offset),
            encode_var_string(e.type),
            encode_var_string(repr(e.at)),
            encode_var_bytes(e.data),
        )
    return b"".join(parts)


def decode_events(data: bytes) -> list[Event]:
    """The inverse of ``encode_events``; ``DecodeError`` if malformed."""
    dec = Decoder(data)
    n = dec.var_uint()
    events = []
    for _ in range(n):
        channel, epoch, offset, type_ = dec.var_string(), dec.var_string(), dec.var_uint(), dec.var_string()
        try:
            at = float(dec.var_string())
        except ValueError as exc:
            raise DecodeError("bad event time") from exc
        events.append(Event(channel, epoch, offset, type_, dec.var_bytes(), at))
    if not dec.at_end():
        raise DecodeError("trailing bytes after the events")
    return events


# -- the publisher ---------------------------------------------------------------


class Publisher:
    """Commits events to the store, then announces them.

    ``announce`` is wired by ``hub.live`` to this node's fan-out and to the
    broker. It must be called after the commit, with the events the store
    returned, and only once per commit.
    """

    def __init__(self, store: EventStore, announce: Callable[[Sequence[Event]], None]) -> None:
        self.store = store
        self._announce = announce
        self.published = 0

    async def publish(self, channels: Iterable[str], type: str, data: Any) -> list[Event]:
        """Publish one event (``data`` is any JSON-able value) to ``channels``."""
        result = await self.publish_many([Publication.of(channels, type, data)])
        return result.events

    async def publish_many(
        self, publications: Sequence[Publication], *, key: IdempotencyKey | None = None
    ) -> Published:
        """Commit every publication in one transaction, then announce.

        With ``key``, a retry of the same request publishes nothing new and
        returns the first call's positions (``duplicate``); the same key with
        other publications raises ``IdempotencyConflict``.
        """
        result = await self.store.append(publications, key=key)
        if result.events:
            self.announce(result.events)
        return result

    def announce(self, events: Sequence[Event]) -> None:
        """Hand committed events to subscribers here and on every other node."""
        self.published += len(events)
        self._announce(events)
