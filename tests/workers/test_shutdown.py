"""SIGTERM to the instance holding a job: exit 0, lease released, another instance takes over at once.

Real processes on port 0: two ``tongpin worker`` processes on one SQLite
file, and a ``tongpin serve`` hub beside a worker on PostgreSQL and Redis.
The lease TTL is a minute, so a takeover that comes before it can only come
from the release; the store itself is read to see the stopped holder's lease
gone the moment its process has exited.
"""

from __future__ import annotations

import asyncio
import random
import sqlite3
from pathlib import Path
from typing import Any

import httpx
import pytest
import redis.asyncio as aioredis

from tests.cluster.services import REDIS_URL, check_redis, postgres_schema, with_db
from tests.live.helpers import HubProcess
from tests.monitor.helpers import WorkerProcess, lease_held

pytestmark = [pytest.mark.slow, pytest.mark.timeout(120)]

JOBS = ["duty-rotation", "dispatch-escalation"]
TTL = 60.0  # far longer than any wait below: only a release hands a job over in time
ENV = {"TONGPIN_WORKER_LEASE_TTL": str(TTL)}


async def get(base: str, path: str) -> httpx.Response:
    async with httpx.AsyncClient(timeout=5) as http:
        return await http.get(f"{base}{path}")


async def wait_held(base: str, jobs: list[str], within: float = 20.0) -> None:
    """Poll another process's ``/metrics`` until it holds every job's lease."""
    text = ""
    try:
        async with asyncio.timeout(within):
            while True:
                text = (await get(base, "/metrics")).text
                if all(lease_held(text, job) for job in jobs):
                    return
                await asyncio.sleep(0.05)
    except TimeoutError:
        raise AssertionError(f"leases of {jobs} not taken within {within}s\n{text}") from None


def job_states(health: dict[str, Any]) -> dict[str, str]:
    return {name: job["state"] for name, job in health["jobs"].items()}


def sqlite_holders(path: Path) -> dict[str, str]:
    db = sqlite3.connect(path)
    try:
        return dict(db.execute("SELECT job, holder FROM worker_leases").fetchall())
    finally:
        db.close()


async def test_sigterm_to_a_worker_process_hands_its_jobs_over_at_once(tmp_path: Path) -> None:
    first = await asyncio.to_thread(WorkerProcess(tmp_path, JOBS, ENV).start)
    second: WorkerProcess | None = None
    try:
        base = f"http://127.0.0.1:{first.port}"
        await wait_held(base, JOBS)
        second = await asyncio.to_thread(WorkerProcess(tmp_path, JOBS, ENV).start)
        other = f"http://127.0.0.1:{second.port}"
        response = await get(other, "/healthz")
        assert response.status_code == 200
        assert job_states(response.json()) == dict.fromkeys(JOBS, "standby")
        assert job_states((await get(base, "/healthz")).json()) == dict.fromkeys(JOBS, "ticking")
        before = sqlite_holders(first.sqlite_path)
        assert set(before) == set(JOBS)

        assert await asyncio.to_thread(first.terminate) == 0
        after = sqlite_holders(first.sqlite_path)  # released: gone, or already the other's
        assert all(after.get(job) != before[job] for job in JOBS), (before, after)
        await wait_held(other, JOBS)
        assert job_states((await get(other, "/healthz")).json()) == dict.fromkeys(JOBS, "ticking")
        log = first.log()
        assert all(f"job {job}: lease released" in log for job in JOBS), log
        assert "Traceback" not in log

        assert await asyncio.to_thread(second.terminate) == 0
        assert sqlite_holders(first.sqlite_path) == {}
    finally:
        for process in (first, second):
            if process is not None:
                process.stop()


@pytest.mark.postgres
@pytest.mark.redis
async def test_sigterm_to_a_hub_hands_its_jobs_to_a_worker_process_at_once(tmp_path: Path) -> None:
    await check_redis()
    redis_url = with_db(REDIS_URL, random.randint(2, 15))
    async with postgres_schema() as database:
        env = {**ENV, "TONGPIN_DATABASE_URL": database, "TONGPIN_REDIS_URL": redis_url}
        hub = await asyncio.to_thread(HubProcess(tmp_path / "hub", {**env, "TONGPIN_WORKERS": ",".join(JOBS)}).start)
        worker: WorkerProcess | None = None
        keys = aioredis.Redis.from_url(redis_url)
        try:
            await wait_held(hub.http, JOBS)
            worker = await asyncio.to_thread(WorkerProcess(tmp_path / "worker", JOBS, env).start)
            base = f"http://127.0.0.1:{worker.port}"
            health = (await get(hub.http, "/healthz")).json()
            assert job_states(health) == dict.fromkeys(JOBS, "ticking") and health["status"] == "ok", health
            assert job_states((await get(base, "/healthz")).json()) == dict.fromkeys(JOBS, "standby")
            prefix = f"tongpin:{redis_url.rsplit('/', 1)[1]}:lease:"
            before = {job: await keys.get(prefix + job) for job in JOBS}
            assert all(before.values()), before

            assert await hub.sigterm() == 0
            after = {job: await keys.get(prefix + job) for job in JOBS}
            assert all(after[job] != before[job] for job in JOBS), (before, after)
            await wait_held(base, JOBS)
            assert job_states((await get(base, "/healthz")).json()) == dict.fromkeys(JOBS, "ticking")
            assert "Traceback" not in hub.log()
        finally:
            await keys.aclose()
            if worker is not None:
                worker.stop()
            hub.stop()
