"""``tongpin migrate`` and ``tongpin serve`` against a shared PostgreSQL schema.

Several nodes may migrate or start at once (an advisory lock orders them),
and a node refuses a schema newer than it knows, saying so.
"""

from __future__ import annotations

import asyncio
import os
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import asyncpg  # type: ignore[import-untyped,unused-ignore]
import pytest

from schema.migrations import latest_version
from tests.cluster.services import postgres_schema

pytestmark = [pytest.mark.postgres]

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
async def database(postgres_url: str) -> AsyncIterator[str]:
    async with postgres_schema(postgres_url) as url:
        yield url


async def tongpin(database_url: str, *args: str, within: float = 60) -> tuple[int, str]:
    """Run the ``tongpin`` command line; (exit code, stderr)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("TONGPIN_")}
    env.update({"TONGPIN_DATABASE_URL": database_url, "TONGPIN_AUTH": "off"})
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "hub.cli", *args,
        cwd=ROOT, env=env, stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    async with asyncio.timeout(within):
        _, err = await proc.communicate()
    assert proc.returncode is not None
    return proc.returncode, err.decode("utf-8", "replace")


async def versions(database_url: str) -> list[int]:
    conn = await asyncpg.connect(database_url)
    try:
        return [int(r[0]) for r in await conn.fetch("SELECT version FROM schema_migrations ORDER BY version")]
    finally:
        await conn.close()


async def test_nodes_migrating_at_once_each_apply_every_migration_once(database: str) -> None:
    results = await asyncio.gather(*(tongpin(database, "migrate") for _ in range(3)))
    assert [code for code, _ in results] == [0, 0, 0], [err for _, err in results]
    assert await versions(database) == list(range(1, latest_version("postgres") + 1))


async def test_a_node_refuses_a_schema_newer_than_it_knows(database: str, tmp_path: Path) -> None:
    code, err = await tongpin(database, "migrate")
    assert code == 0, err
    newer = latest_version("postgres") + 1
    conn = await asyncpg.connect(database)
    try:
        await conn.execute("INSERT INTO schema_migrations (version, name) VALUES ($1, 'from a newer tongpin')", newer)
    finally:
        await conn.close()
    code, err = await tongpin(database, "migrate")
    assert code == 1 and f"schema is version {newer}" in err and "upgrade Tongpin" in err, err
    code, err = await tongpin(database, "serve", "--port", "0", "--data-dir", str(tmp_path))
    assert code != 0 and f"schema is version {newer}" in err, err
