"""The real PostgreSQL and Redis the contract and cluster tests use.

``TONGPIN_TEST_DATABASE_URL`` and ``TONGPIN_TEST_REDIS_URL`` name them. When
one cannot be reached the test skips with a loud reason, except under
``CI=true``, where it fails (``tests.conftest.unavailable``).

Isolation: each PostgreSQL test gets a fresh schema (the URL's
``search_path``), dropped afterwards; each Redis test a fresh channel prefix
(brokers) or database number (hub nodes), so runs sharing the servers do not
see each other.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import socket
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import asyncpg  # type: ignore[import-untyped,unused-ignore]
import redis.asyncio as aioredis
from redis.exceptions import RedisError

from tests.conftest import DEFAULT_DATABASE_URL, DEFAULT_REDIS_URL, unavailable

DATABASE_URL = os.environ.get("TONGPIN_TEST_DATABASE_URL", DEFAULT_DATABASE_URL)
REDIS_URL = os.environ.get("TONGPIN_TEST_REDIS_URL", DEFAULT_REDIS_URL)


def with_query(url: str, **params: str) -> str:
    parts = urlsplit(url)
    query = dict(parse_qsl(parts.query))
    query.update(params)
    return urlunsplit(parts._replace(query=urlencode(query)))


def with_db(url: str, db: int) -> str:
    return urlunsplit(urlsplit(url)._replace(path=f"/{db}"))


@asynccontextmanager
async def postgres_schema(url: str = DATABASE_URL) -> AsyncIterator[str]:
    """A fresh, empty schema; yields a URL whose connections use it."""
    try:
        admin = await asyncpg.connect(url, timeout=3)
    except (OSError, TimeoutError, asyncpg.PostgresError) as exc:
        unavailable(f"PostgreSQL at {url}", exc)
    name = f"tp_{uuid.uuid4().hex[:12]}"
    await admin.execute(f'CREATE SCHEMA "{name}"')
    try:
        yield with_query(url, search_path=name)
    finally:
        await admin.execute(f'DROP SCHEMA "{name}" CASCADE')
        await admin.close()


async def check_redis(url: str = REDIS_URL) -> None:
    client = aioredis.Redis.from_url(url, socket_connect_timeout=2)
    try:
        await client.ping()
    except (RedisError, OSError) as exc:
        unavailable(f"Redis at {url}", exc)
    finally:
        await client.aclose()


def redis_server_binary() -> str:
    path = shutil.which("redis-server")
    if path is None:
        unavailable("redis-server (to run a private Redis)", "not on PATH")
    return path


def free_port() -> int:
    """A loopback port nobody listens on right now (for servers that need a fixed port)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class PrivateRedis:
    """A redis-server of our own on a loopback port, to stop and start on purpose."""

    def __init__(self) -> None:
        self.binary = redis_server_binary()
        self.port = free_port()
        self.proc: asyncio.subprocess.Process | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    async def start(self) -> None:
        assert self.proc is None, "already running"
        self.proc = await asyncio.create_subprocess_exec(
            self.binary,
            "--port", str(self.port),
            "--bind", "127.0.0.1",
            "--save", "",
            "--appendonly", "no",
            stdout=asyncio.subprocess.DEVNULL,
            stderr=asyncio.subprocess.DEVNULL,
        )  # fmt: skip
        client = aioredis.Redis.from_url(self.url, socket_connect_timeout=1)
        try:
            async with asyncio.timeout(10):
                while True:
                    try:
                        await client.ping()
                        return
                    except (RedisError, OSError):
                        await asyncio.sleep(0.01)
        finally:
            await client.aclose()

    async def stop(self) -> None:
        proc, self.proc = self.proc, None
        if proc is not None and proc.returncode is None:
            proc.kill()
            await proc.wait()

    async def __aenter__(self) -> PrivateRedis:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()
