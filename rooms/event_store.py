"""The EventStore seam: each live channel's durable, ordered event history.

Backends: ``SqliteEventStore`` (``rooms/sqlite_events.py``, the embedded
default: the same SQLite file as the document store) and
``PostgresEventStore`` (``rooms/postgres_events.py``). Both pass
``tests/live/test_event_store.py``. The tables come from migration 0003.

Positions: each channel has an *epoch* (a random string) and numbers its
events 1, 2, 3... (the *offset*). The pair (epoch, offset) names one event
forever. The epoch is new whenever the channel's history starts over: a
store that was reset or replaced. Retention never changes it: it only raises
the channel's ``kept_after`` (every event after it is still held), so
offsets keep their meaning and a position before the retained window is
recognisably unrecoverable.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from typing import TYPE_CHECKING, NamedTuple, Protocol

if TYPE_CHECKING:
    from rooms.events import Event, Publication

__all__ = [
    "EventStore",
    "History",
    "IdempotencyConflict",
    "IdempotencyKey",
    "Position",
    "Published",
    "Retention",
    "digest_of",
]


class Position(NamedTuple):
    """Where a channel is: its epoch, newest offset, and the start of what is kept."""

    epoch: str
    top: int  # offset of the newest event, 0 if none
    kept_after: int  # every event with a larger offset is held


class History(NamedTuple):
    """Events of one channel after some offset, in offset order, without gaps."""

    position: Position
    events: list[Event]

    def complete_after(self, offset: int) -> bool:
        """For a read after ``offset``: do ``events`` hold every event up to the newest?"""
        if offset < self.position.kept_after:
            return False
        return len(self.events) == self.position.top - offset


class IdempotencyKey(NamedTuple):
    """A publish request's key, and a digest of the request it first came with."""

    key: str
    digest: str


class IdempotencyConflict(Exception):
    """The key was used before for a different request."""


class Published(NamedTuple):
    """What a publish stored: the new events, or the first call's positions for a retry."""

    events: list[Event]
    positions: list[tuple[str, str, int]]  # (channel, epoch, offset) per event, in request order
    duplicate: bool


class Retention(NamedTuple):
    """How much history to keep.

    An event is kept while it is among the newest ``keep`` of its channel and
    younger than ``max_age`` seconds. Idempotency keys are kept ``key_age``
    seconds: a retry after that publishes again.
    """

    keep: int = 10_000
    max_age: float = 7 * 24 * 3600.0
    key_age: float = 24 * 3600.0


def digest_of(publications: Sequence[Publication]) -> str:
    """A stable digest of a request, to tell a retry from a reused key."""
    h = hashlib.sha256()
    for p in publications:
        for name in p.channels:
            h.update(name.encode() + b"\x00")
        h.update(b"\x01" + p.type.encode() + b"\x01" + p.data + b"\x02")
    return h.hexdigest()


class EventStore(Protocol):
    """Durable per-channel event history.

    Guarantees:
    - ``append`` is atomic: every event of the call is stored or none is,
      with its idempotency key when one is given. When it returns, the events
      survive a crash. Each event gets its channel's next offset; offsets of
      one channel are consecutive within an epoch.
    - Commit order is offset order, per channel: once an event is visible to
      readers, every earlier offset of its channel and epoch is visible too
      (or was removed by retention). So a reader that sees offset n can fetch
      everything before it.
    - ``read`` returns the channel's position and its events after
      ``after``, oldest first, consecutive, at most ``limit``.
    - ``positions`` returns each channel's position, first creating the
      channel (new epoch, offset 0) if it has never been used, so every
      channel has an epoch before its first event.
    - ``trim`` applies the retention and never leaves a gap inside the kept
      window: it deletes the oldest events of a channel and raises its
      ``kept_after`` in the same transaction.
    - When the backend is down every call raises
      ``rooms.store.StoreUnavailable``; nothing is reported stored that was not.
    """

    async def open(self) -> None: ...

    async def close(self) -> None: ...

    async def append(self, publications: Sequence[Publication], *, key: IdempotencyKey | None = None) -> Published: ...

    async def read(self, channel: str, after: int, limit: int) -> History: ...

    async def positions(self, channels: Sequence[str]) -> dict[str, Position]: ...

    async def trim(self, retention: Retention, now: float) -> int:
        """Apply ``retention``; return how many events were deleted."""
        ...
