"""Leases: at most one holder of each background job across the cluster.

A lease is a row (or key) naming the job, its holder and when it expires.
``acquire`` takes a free or lapsed lease, or extends one the holder already
has; ``renew`` extends it only while the holder still has it; ``release``
gives it up at once. A holder that dies simply stops renewing: its lease
lapses after the TTL and another instance's next ``acquire`` takes it.

Backends, picked by ``make_leases``:

- ``RedisLeases`` when ``TONGPIN_REDIS_URL`` is set: ``SET key holder NX
  PX ttl`` to take, and compare-and-renew / compare-and-delete scripts, so
  only the holder can extend or drop its key. Redis measures the TTL.
- ``PostgresLeases``: table ``worker_leases``, one upsert that takes the row
  only if it lapsed or is the holder's own; the database clock decides
  (``clock_timestamp()``), so nodes' clocks need not agree.
- ``SqliteLeases``: the same table in the embedded database (single node,
  but several processes on it: ``tongpin serve`` and ``tongpin worker``).

Every failure to reach the backend raises ``StoreUnavailable``; the runtime
then treats the lease as not confirmed and stops ticking once its own
deadline passes.
"""

from __future__ import annotations

import sqlite3
import time
from typing import Any, Protocol

import redis.asyncio as aioredis
from redis.asyncio.connection import parse_url
from redis.exceptions import RedisError

from hub.config import Settings
from rooms.postgres_store import PostgresPool
from rooms.sqlite_store import SqliteDatabase
from rooms.store import StoreUnavailable

__all__ = ["Leases", "PostgresLeases", "RedisLeases", "SqliteLeases", "make_leases"]


class Leases(Protocol):
    async def open(self) -> None: ...

    async def close(self) -> None: ...

    async def acquire(self, job: str, holder: str, ttl: float) -> bool:
        """Take the lease of ``job`` for ``ttl`` seconds if it is free, lapsed or already ours."""
        ...

    async def renew(self, job: str, holder: str, ttl: float) -> bool:
        """Extend our lease by ``ttl`` from now; False if it is not ours (any more)."""
        ...

    async def release(self, job: str, holder: str) -> None:
        """Give the lease up if it is ours."""
        ...


def make_leases(settings: Settings) -> Leases:
    if settings.redis_url:
        return RedisLeases(settings.redis_url)
    if settings.database_url.startswith(("postgres://", "postgresql://")):
        return PostgresLeases(settings.database_url, max_size=2)
    return SqliteLeases(settings.sqlite_path)


class SqliteLeases(SqliteDatabase):
    what = "lease store"
    thread_name = "sqlite-leases"

    async def acquire(self, job: str, holder: str, ttl: float) -> bool:
        def txn(db: sqlite3.Connection) -> bool:
            now = time.time()
            row = db.execute(
                "INSERT INTO worker_leases (job, holder, expires_at) VALUES (?, ?, ?) "
                "ON CONFLICT (job) DO UPDATE SET holder = excluded.holder, expires_at = excluded.expires_at "
                "WHERE worker_leases.holder = excluded.holder OR worker_leases.expires_at <= ? RETURNING holder",
                (job, holder, now + ttl, now),
            ).fetchone()
            return row is not None

        return await self._write(txn)

    async def renew(self, job: str, holder: str, ttl: float) -> bool:
        def txn(db: sqlite3.Connection) -> bool:
            cur = db.execute(
                "UPDATE worker_leases SET expires_at = ? WHERE job = ? AND holder = ?", (time.time() + ttl, job, holder)
            )
            return cur.rowcount > 0

        return await self._write(txn)

    async def release(self, job: str, holder: str) -> None:
        def txn(db: sqlite3.Connection) -> None:
            db.execute("DELETE FROM worker_leases WHERE job = ? AND holder = ?", (job, holder))

        await self._write(txn)


_PG_NOW = "extract(epoch from clock_timestamp())"


class PostgresLeases(PostgresPool):
    what = "lease store"

    async def acquire(self, job: str, holder: str, ttl: float) -> bool:
        async def call(conn: Any) -> bool:
            row = await conn.fetchrow(
                f"INSERT INTO worker_leases (job, holder, expires_at) VALUES ($1, $2, {_PG_NOW} + $3) "
                "ON CONFLICT (job) DO UPDATE SET holder = excluded.holder, expires_at = excluded.expires_at "
                f"WHERE worker_leases.holder = excluded.holder OR worker_leases.expires_at <= {_PG_NOW} "
                "RETURNING holder",
                job,
                holder,
                ttl,
            )
            return row is not None

        return await self._run(call)

    async def renew(self, job: str, holder: str, ttl: float) -> bool:
        async def call(conn: Any) -> bool:
            status = await conn.execute(
                f"UPDATE worker_leases SET expires_at = {_PG_NOW} + $3 WHERE job = $1 AND holder = $2", job, holder, ttl
            )
            return bool(status != "UPDATE 0")

        return await self._run(call)

    async def release(self, job: str, holder: str) -> None:
        async def call(conn: Any) -> None:
            await conn.execute("DELETE FROM worker_leases WHERE job = $1 AND holder = $2", job, holder)

        await self._run(call)


_RENEW = """
if redis.call('GET', KEYS[1]) == ARGV[1] then
    return redis.call('PEXPIRE', KEYS[1], ARGV[2])
end
return 0
"""
_RELEASE = """
if redis.call('GET', KEYS[1]) == ARGV[1] then
    return redis.call('DEL', KEYS[1])
end
return 0
"""
_ERRORS = (RedisError, OSError, TimeoutError)


class RedisLeases:
    """Leases as Redis keys ``tongpin:{db}:lease:{job}`` whose value is the holder."""

    def __init__(self, url: str, *, op_timeout: float = 2.0) -> None:
        self.url = url
        self.prefix = f"tongpin:{parse_url(url).get('db', 0)}:lease:"
        self.op_timeout = op_timeout
        self._client: aioredis.Redis | None = None

    async def open(self) -> None:
        self._client = aioredis.Redis.from_url(
            self.url, socket_timeout=self.op_timeout, socket_connect_timeout=self.op_timeout
        )

    async def close(self) -> None:
        client, self._client = self._client, None
        if client is not None:
            await client.aclose()

    def _redis(self) -> aioredis.Redis:
        if self._client is None:
            raise StoreUnavailable("lease store is closed")
        return self._client

    async def acquire(self, job: str, holder: str, ttl: float) -> bool:
        try:
            if await self._redis().set(self.prefix + job, holder, nx=True, px=_ms(ttl)):
                return True
        except _ERRORS as exc:
            raise StoreUnavailable(f"redis: {exc!r}") from exc
        return await self.renew(job, holder, ttl)

    async def renew(self, job: str, holder: str, ttl: float) -> bool:
        try:
            done = await self._redis().eval(_RENEW, 1, self.prefix + job, holder, _ms(ttl))
        except _ERRORS as exc:
            raise StoreUnavailable(f"redis: {exc!r}") from exc
        return bool(done)

    async def release(self, job: str, holder: str) -> None:
        try:
            await self._redis().eval(_RELEASE, 1, self.prefix + job, holder)
        except _ERRORS as exc:
            raise StoreUnavailable(f"redis: {exc!r}") from exc


def _ms(seconds: float) -> int:
    return max(1, round(seconds * 1000))
