"""One transaction, either backend: the tiny seam that lets one SQL text serve SQLite and PostgreSQL.

Queries are written once with ``?`` placeholders (``dollar_params`` turns them
into ``$1, $2, ...`` for asyncpg) and use only what both dialects share;
times are Unix seconds in REAL / DOUBLE PRECISION columns. What differs is a
method of ``Tx``:

- ``lock``: a ``SELECT`` of one table that locks the rows it returns until
  commit (PostgreSQL: ``FOR UPDATE``; SQLite needs nothing, its write
  transaction holds the database);
- ``touch_room``: stamp ``rooms.changed_at`` with the database clock, which
  the hubs' revocation poll reads (``rooms.directory.Directory.changes``);
- ``publish`` and ``audit`` queue live events and audit rows; they are
  written last, inside the same transaction, and the committed events are
  returned to the caller to announce (``rooms.events``).

A constraint violation raises ``rooms.workflow.Conflict``; every other
database failure ``rooms.store.StoreUnavailable``.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Sequence
from typing import Any, Protocol

from rooms.directory import AuditEvent
from rooms.events import Event, Publication
from schema import events as catalogue

__all__ = ["Row", "Tx", "dollar_params"]

Row = Sequence[Any]

_MARK = re.compile(r"\?")


@functools.lru_cache(maxsize=512)
def dollar_params(sql: str) -> str:
    """``?`` placeholders as ``$1, $2, ...`` (the SQL texts here hold no ``?`` in literals)."""
    counter = iter(range(1, 10_000))
    return _MARK.sub(lambda _: f"${next(counter)}", sql)


def marks(n: int) -> str:
    """``?, ?, ?`` for an ``IN (...)`` of ``n`` values."""
    return ", ".join("?" * n)


class Tx(Protocol):
    """One open write transaction. Everything it did commits together, or nothing does."""

    now: float  # the time of this change (the store's clock when the transaction began)

    async def rows(self, sql: str, *args: object) -> list[Row]: ...

    async def row(self, sql: str, *args: object) -> Row | None: ...

    async def execute(self, sql: str, *args: object) -> int:
        """Run a statement; return how many rows it changed."""
        ...

    async def lock(self, sql: str, *args: object) -> Row | None:
        """``row``, locking what it read until commit (a ``SELECT`` of one table)."""
        ...

    async def touch_room(self, room_id: str) -> None:
        """Stamp the room's change time: every hub re-reads its members and state."""
        ...

    def publish(self, publications: Sequence[Publication]) -> None:
        """Queue events; they are appended at commit, in this transaction."""
        ...

    def audit(self, event: AuditEvent) -> None:
        """Queue an audit row; it is written at commit, in this transaction."""
        ...


class Queued:
    """What a ``Tx`` queues for its commit: events to append and audit rows."""

    def __init__(self) -> None:
        self.publications: list[Publication] = []
        self.audits: list[AuditEvent] = []
        self.events: list[Event] = []

    def publish(self, publications: Sequence[Publication]) -> None:
        for p in publications:
            catalogue.require(p.type)  # system events only: each is defined in schema/events.schema.json
        self.publications.extend(publications)

    def audit(self, event: AuditEvent) -> None:
        self.audits.append(event)
