"""PostgreSQL event store, for a cluster (see ``rooms.event_store.EventStore``).

Commit order is offset order: ``append_in`` bumps each channel's
``top_offset`` with an upsert, which holds the channel's row lock until the
transaction ends. A second publisher on the same channel waits for that
commit (or rollback) and then takes the next offset, so readers never see
offset n+1 without n. Channels are locked in name order, so publishers that
share several channels never deadlock.

``append_in`` publishes inside a caller's own transaction, on any asyncpg
connection to this database, so a business change and its events commit
together. Errors from asyncpg and the network become ``StoreUnavailable``
here, at the edge.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable, Sequence
from typing import Any, TypeVar

import orjson

from rooms.event_store import History, IdempotencyConflict, IdempotencyKey, Position, Published, Retention
from rooms.events import Event, Publication
from rooms.postgres_store import PostgresPool
from rooms.sqlite_events import new_epoch

__all__ = ["PostgresEventStore", "append_in"]

T = TypeVar("T")

_BUMP = """
INSERT INTO live_channels AS c (channel, epoch, top_offset, kept_after, updated_at)
SELECT ch, ep, k, 0, $4 FROM unnest($1::text[], $2::bigint[], $3::text[]) AS t(ch, k, ep) ORDER BY ch
ON CONFLICT (channel) DO UPDATE SET top_offset = c.top_offset + excluded.top_offset, updated_at = excluded.updated_at
RETURNING channel, epoch, top_offset
"""

_INSERT = """
INSERT INTO live_events (channel, event_offset, type, data, at)
SELECT * FROM unnest($1::text[], $2::bigint[], $3::text[], $4::text[], $5::float8[])
"""

_CUTS = """
SELECT channel, kept_after, GREATEST(top_offset - $1, coalesce(
    (SELECT max(e.event_offset) FROM live_events e WHERE e.channel = c.channel AND e.at < $2), 0))
FROM live_channels c WHERE top_offset > kept_after
"""


async def append_in(conn: Any, publications: Sequence[Publication], now: float | None = None) -> list[Event]:
    """Append events inside the caller's open transaction; return them.

    The caller commits, then hands the result to ``Publisher.announce``.
    """
    if not conn.is_in_transaction():
        raise RuntimeError("append_in needs an open transaction (async with conn.transaction())")
    now = time.time() if now is None else now
    counts: dict[str, int] = {}
    for p in publications:
        for name in p.channels:
            counts[name] = counts.get(name, 0) + 1
    names = sorted(counts)
    rows = await conn.fetch(_BUMP, names, [counts[n] for n in names], [new_epoch() for _ in names], now)
    next_offset = {str(r[0]): (str(r[1]), int(r[2]) - counts[str(r[0])] + 1) for r in rows}
    events: list[Event] = []
    columns: tuple[list[Any], ...] = ([], [], [], [], [])
    for p in publications:
        text = p.data.decode("utf-8")
        for name in p.channels:
            epoch, offset = next_offset[name]
            next_offset[name] = (epoch, offset + 1)
            events.append(Event(name, epoch, offset, p.type, p.data, now))
            for column, value in zip(columns, (name, offset, p.type, text, now), strict=True):
                column.append(value)
    await conn.execute(_INSERT, *columns)
    return events


class PostgresEventStore(PostgresPool):
    """``rooms.event_store.EventStore`` on PostgreSQL, through a small asyncpg pool."""

    what = "event store"

    async def transact(self, fn: Callable[[Any], Awaitable[T]]) -> T:
        """Run ``fn(conn)`` in one transaction on a pooled connection.

        For a business change and its events (``append_in``) together; the
        transaction commits when ``fn`` returns and rolls back if it raises.
        """

        async def txn(conn: Any) -> T:
            async with conn.transaction():
                return await fn(conn)

        return await self._run(txn)

    async def append(self, publications: Sequence[Publication], *, key: IdempotencyKey | None = None) -> Published:
        async def txn(conn: Any) -> Published:
            now = time.time()
            if key is not None:
                # A concurrent request with the same key waits here for this one's commit.
                fresh = await conn.fetchval(
                    "INSERT INTO live_publishes (key, digest, result, at) VALUES ($1, $2, '', $3) "
                    "ON CONFLICT (key) DO NOTHING RETURNING 1",
                    key.key,
                    key.digest,
                    now,
                )
                if fresh is None:
                    row = await conn.fetchrow("SELECT digest, result FROM live_publishes WHERE key = $1", key.key)
                    if row[0] != key.digest:
                        raise IdempotencyConflict(f"idempotency key {key.key!r} was used for another request")
                    positions = [(str(c), str(e), int(o)) for c, e, o in orjson.loads(row[1])]
                    return Published([], positions, duplicate=True)
            events = await append_in(conn, publications, now)
            positions = [(e.channel, e.epoch, e.offset) for e in events]
            if key is not None:
                await conn.execute(
                    "UPDATE live_publishes SET result = $2 WHERE key = $1", key.key, orjson.dumps(positions).decode()
                )
            return Published(events, positions, duplicate=False)

        return await self.transact(txn)

    async def read(self, channel: str, after: int, limit: int) -> History:
        async def read(conn: Any) -> History:
            async with conn.transaction(isolation="repeatable_read", readonly=True):
                row = await conn.fetchrow(
                    "SELECT epoch, top_offset, kept_after FROM live_channels WHERE channel = $1", channel
                )
                if row is None:
                    return History(Position("", 0, 0), [])
                rows = await conn.fetch(
                    "SELECT event_offset, type, data, at FROM live_events WHERE channel = $1 AND event_offset > $2 "
                    "ORDER BY event_offset LIMIT $3",
                    channel,
                    after,
                    limit,
                )
            position = Position(str(row[0]), int(row[1]), int(row[2]))
            events = [Event(channel, position.epoch, int(o), str(t), str(d).encode(), float(a)) for o, t, d, a in rows]
            return History(position, events)

        return await self._run(read)

    async def positions(self, channels: Sequence[str]) -> dict[str, Position]:
        names = list(dict.fromkeys(channels))

        async def select(conn: Any, wanted: list[str]) -> dict[str, Position]:
            rows = await conn.fetch(
                "SELECT channel, epoch, top_offset, kept_after FROM live_channels WHERE channel = ANY($1::text[])",
                wanted,
            )
            return {str(r[0]): Position(str(r[1]), int(r[2]), int(r[3])) for r in rows}

        async def read(conn: Any) -> dict[str, Position]:
            found = await select(conn, names)
            missing = [c for c in names if c not in found]
            if missing:
                await conn.execute(
                    "INSERT INTO live_channels (channel, epoch, top_offset, kept_after, updated_at) "
                    "SELECT ch, ep, 0, 0, $3 FROM unnest($1::text[], $2::text[]) AS t(ch, ep) "
                    "ON CONFLICT (channel) DO NOTHING",
                    missing,
                    [new_epoch() for _ in missing],
                    time.time(),
                )
                found.update(await select(conn, missing))
            return found

        return await self._run(read)

    async def trim(self, retention: Retention, now: float) -> int:
        async def txn(conn: Any) -> int:
            deleted = 0
            cuts = await conn.fetch(_CUTS, retention.keep, now - retention.max_age)
            for channel, kept, upto in cuts:
                if upto <= kept:
                    continue
                async with conn.transaction():
                    # The row lock waits for a publisher of this channel; kept_after never goes down.
                    await conn.execute(
                        "UPDATE live_channels SET kept_after = GREATEST(kept_after, $2) WHERE channel = $1",
                        channel,
                        upto,
                    )
                    status = await conn.execute(
                        "DELETE FROM live_events WHERE channel = $1 AND event_offset <= $2", channel, upto
                    )
                deleted += int(status.split()[-1])
            await conn.execute("DELETE FROM live_publishes WHERE at < $1", now - retention.key_age)
            return deleted

        return await self._run(txn)
