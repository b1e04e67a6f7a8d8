"""SQLite event store: the embedded default. Single node only.

The same database file as the document store, on a connection of its own
owned by one worker thread. SQLite has one writer at a time, so appends of
one channel commit in offset order. ``append_in`` publishes inside a
caller's own transaction (any connection to this file, in ``BEGIN
IMMEDIATE``), so a business change and its events commit together.
"""

from __future__ import annotations

import secrets
import sqlite3
import time
from collections.abc import Callable, Sequence
from typing import TypeVar

import orjson

from rooms.event_store import History, IdempotencyConflict, IdempotencyKey, Position, Published, Retention
from rooms.events import Event, Publication
from rooms.sqlite_store import SqliteDatabase

__all__ = ["SqliteEventStore", "append_in", "new_epoch"]

T = TypeVar("T")

_CHUNK = 500  # channels per IN (...) query, below SQLite's variable limit


def new_epoch() -> str:
    return secrets.token_hex(6)


def append_in(db: sqlite3.Connection, publications: Sequence[Publication], now: float | None = None) -> list[Event]:
    """Append events inside the caller's open write transaction; return them.

    The caller commits, then hands the result to ``Publisher.announce``.
    """
    if not db.in_transaction:
        raise RuntimeError("append_in needs an open transaction (BEGIN IMMEDIATE)")
    now = time.time() if now is None else now
    counts: dict[str, int] = {}
    for p in publications:
        for name in p.channels:
            counts[name] = counts.get(name, 0) + 1
    next_offset: dict[str, tuple[str, int]] = {}
    for name, k in counts.items():
        row = db.execute(
            "UPDATE live_channels SET top_offset = top_offset + ?, updated_at = ? WHERE channel = ? "
            "RETURNING epoch, top_offset",
            (k, now, name),
        ).fetchone()
        if row is None:
            epoch = new_epoch()
            db.execute(
                "INSERT INTO live_channels (channel, epoch, top_offset, kept_after, updated_at) VALUES (?, ?, ?, 0, ?)",
                (name, epoch, k, now),
            )
            next_offset[name] = (epoch, 1)
        else:
            next_offset[name] = (str(row[0]), int(row[1]) - k + 1)
    events: list[Event] = []
    rows = []
    for p in publications:
        text = p.data.decode("utf-8")
        for name in p.channels:
            epoch, offset = next_offset[name]
            next_offset[name] = (epoch, offset + 1)
            events.append(Event(name, epoch, offset, p.type, p.data, now))
            rows.append((name, offset, p.type, text, now))
    db.executemany("INSERT INTO live_events (channel, event_offset, type, data, at) VALUES (?, ?, ?, ?, ?)", rows)
    return events


class SqliteEventStore(SqliteDatabase):
    """``rooms.event_store.EventStore`` on a SQLite file."""

    what = "event store"
    thread_name = "sqlite-events"

    async def transact(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        """Run ``fn`` in one write transaction on this store's connection.

        For a business change and its events (``append_in``) together; the
        transaction commits when ``fn`` returns and rolls back if it raises.
        """
        return await self._write(fn)

    async def append(self, publications: Sequence[Publication], *, key: IdempotencyKey | None = None) -> Published:
        def txn(db: sqlite3.Connection) -> Published:
            if key is not None:
                row = db.execute("SELECT digest, result FROM live_publishes WHERE key = ?", (key.key,)).fetchone()
                if row is not None:
                    if row[0] != key.digest:
                        raise IdempotencyConflict(f"idempotency key {key.key!r} was used for another request")
                    positions = [(str(c), str(e), int(o)) for c, e, o in orjson.loads(row[1])]
                    return Published([], positions, duplicate=True)
            now = time.time()
            events = append_in(db, publications, now)
            positions = [(e.channel, e.epoch, e.offset) for e in events]
            if key is not None:
                db.execute(
                    "INSERT INTO live_publishes (key, digest, result, at) VALUES (?, ?, ?, ?)",
                    (key.key, key.digest, orjson.dumps(positions).decode(), now),
                )
            return Published(events, positions, duplicate=False)

        return await self.transact(txn)

    async def read(self, channel: str, after: int, limit: int) -> History:
        def read(db: sqlite3.Connection) -> History:
            db.execute("BEGIN")
            try:
                row = db.execute(
                    "SELECT epoch, top_offset, kept_after FROM live_channels WHERE channel = ?", (channel,)
                ).fetchone()
                if row is None:
                    return History(Position("", 0, 0), [])
                position = Position(str(row[0]), int(row[1]), int(row[2]))
                rows = db.execute(
                    "SELECT event_offset, type, data, at FROM live_events WHERE channel = ? AND event_offset > ? "
                    "ORDER BY event_offset LIMIT ?",
                    (channel, after, limit),
                ).fetchall()
            finally:
                db.execute("COMMIT")
            events = [Event(channel, position.epoch, int(o), str(t), str(d).encode(), float(a)) for o, t, d, a in rows]
            return History(position, events)

        return await self._run(read)

    async def positions(self, channels: Sequence[str]) -> dict[str, Position]:
        def read(db: sqlite3.Connection) -> dict[str, Position]:
            found = _select_positions(db, channels)
            missing = [c for c in dict.fromkeys(channels) if c not in found]
            if missing:
                now = time.time()
                db.execute("BEGIN IMMEDIATE")
                try:
                    db.executemany(
                        "INSERT OR IGNORE INTO live_channels (channel, epoch, top_offset, kept_after, updated_at) "
                        "VALUES (?, ?, 0, 0, ?)",
                        [(c, new_epoch(), now) for c in missing],
                    )
                    found.update(_select_positions(db, missing))
                    db.execute("COMMIT")
                except BaseException:
                    db.execute("ROLLBACK")
                    raise
            return found

        return await self._run(read)

    async def trim(self, retention: Retention, now: float) -> int:
        def txn(db: sqlite3.Connection) -> int:
            cutoff = now - retention.max_age
            cuts = db.execute(
                "SELECT channel, kept_after, max(top_offset - ?, coalesce((SELECT max(e.event_offset) "
                "FROM live_events e WHERE e.channel = c.channel AND e.at < ?), 0)) "
                "FROM live_channels c WHERE top_offset > kept_after",
                (retention.keep, cutoff),
            ).fetchall()
            deleted = 0
            for channel, kept, upto in cuts:
                if upto <= kept:
                    continue
                db.execute("UPDATE live_channels SET kept_after = ? WHERE channel = ?", (upto, channel))
                cur = db.execute("DELETE FROM live_events WHERE channel = ? AND event_offset <= ?", (channel, upto))
                deleted += cur.rowcount
            db.execute("DELETE FROM live_publishes WHERE at < ?", (now - retention.key_age,))
            return deleted

        return await self.transact(txn)


def _select_positions(db: sqlite3.Connection, channels: Sequence[str]) -> dict[str, Position]:
    found: dict[str, Position] = {}
    names = list(dict.fromkeys(channels))
    for i in range(0, len(names), _CHUNK):
        chunk = names[i : i + _CHUNK]
        marks = ",".join("?" * len(chunk))
        for c, e, t, k in db.execute(
            f"SELECT channel, epoch, top_offset, kept_after FROM live_channels WHERE channel IN ({marks})", chunk
        ):
            found[str(c)] = Position(str(e), int(t), int(k))
    return found
