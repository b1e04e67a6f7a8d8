"""The worker runtime and its leases (``workers.runtime``, ``workers.leases``) on SQLite, PostgreSQL and Redis."""

from __future__ import annotations

import asyncio
import contextlib
import sqlite3
import time
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from rooms.store import StoreUnavailable
from tests.cluster.services import check_redis, postgres_schema
from tests.waiting import wait_until
from workers.leases import Leases, PostgresLeases, RedisLeases, SqliteLeases
from workers.runtime import FAILING_TICKS, JobStats, WorkerHost

LEASE_BACKENDS = ("sqlite", "postgres", "redis")


@contextlib.asynccontextmanager
async def lease_store(backend: str, tmp_path: Path) -> AsyncIterator[tuple[Leases, str]]:
    """An unopened lease store and the URL/path it uses (for a second instance)."""
    if backend == "sqlite":
        path = tmp_path / "leases.sqlite3"
        yield SqliteLeases(path), str(path)
    elif backend == "postgres":
        async with postgres_schema() as url:
            yield PostgresLeases(url), url
    else:
        await check_redis()
        from tests.cluster.services import REDIS_URL

        yield RedisLeases(REDIS_URL), REDIS_URL


def another(backend: str, where: str) -> Leases:
    return {"sqlite": SqliteLeases, "postgres": PostgresLeases, "redis": RedisLeases}[backend](where)


@pytest.mark.parametrize("backend", LEASE_BACKENDS)
async def test_lease_contract(backend: str, tmp_path: Path) -> None:
    job = f"job-{uuid.uuid4().hex[:8]}"
    async with lease_store(backend, tmp_path) as (leases, where):
        await leases.open()
        try:
            assert await leases.acquire(job, "a", 0.5)
            assert not await leases.acquire(job, "b", 0.5)
            assert await leases.acquire(job, "a", 0.5)  # already ours: extended
            assert await leases.renew(job, "a", 0.5)
            assert not await leases.renew(job, "b", 0.5)
            await leases.release(job, "b")  # not b's: nothing happens
            assert not await leases.acquire(job, "b", 0.5)
            # a stops renewing: the lease lapses and b takes it; a's renewals fail from then on.
            started = time.monotonic()
            async with asyncio.timeout(5):
                while not await leases.acquire(job, "b", 5.0):  # noqa: ASYNC110 - polling the lease is the point
                    await asyncio.sleep(0.02)
            assert time.monotonic() - started < 1.0
            assert not await leases.renew(job, "a", 0.5)
            await leases.release(job, "b")
            assert await leases.acquire(job, "a", 5.0)  # released: free at once
            # A second instance of the backend sees the same leases.
            other = another(backend, where)
            await other.open()
            try:
                assert not await other.acquire(job, "c", 5.0)
            finally:
                await other.close()
        finally:
            await leases.close()


async def test_unreachable_backend_raises_store_unavailable() -> None:
    leases = RedisLeases("redis://127.0.0.1:1/0", op_timeout=0.5)
    await leases.open()
    try:
        with pytest.raises(StoreUnavailable):
            await leases.acquire("job", "a", 1.0)
    finally:
        await leases.close()


class Counting:
    """A job that counts its ticks; ``fail`` makes ticks raise."""

    def __init__(self, name: str = "counting") -> None:
        self.name = name
        self.interval = 0.02
        self.ticks = 0
        self.fail = False

    async def tick(self, now: float) -> int:
        assert now > 1e9
        if self.fail:
            raise RuntimeError("this tick fails")
        self.ticks += 1
        return 2


def host(path: Path, job: Counting, holder: str, ttl: float = 0.6) -> WorkerHost:
    return WorkerHost([job], SqliteLeases(path), holder, ttl=ttl)


async def test_one_holder_ticks_and_a_clean_stop_hands_over_at_once(tmp_path: Path) -> None:
    path = tmp_path / "w.sqlite3"
    a_job, b_job = Counting(), Counting()
    a, b = host(path, a_job, "a", ttl=5.0), host(path, b_job, "b", ttl=5.0)
    await a.start()
    await wait_until(lambda: a_job.ticks >= 5)
    await b.start()
    try:
        await wait_until(lambda: a_job.ticks >= 40)
        assert b_job.ticks == 0 and not b.stats["counting"].held
        assert a.stats["counting"].held and a.stats["counting"].items == 2 * a.stats["counting"].ticks
        stopped = time.monotonic()
        await a.stop()  # releases: b need not wait out the 5 s TTL
        await wait_until(lambda: b_job.ticks > 0, within=3.0)
        assert time.monotonic() - stopped < 2.0
    finally:
        await a.stop()
        await b.stop()


async def test_dead_holder_lapses_and_another_takes_over_within_the_ttl(tmp_path: Path) -> None:
    path = tmp_path / "w.sqlite3"
    a_job, b_job = Counting(), Counting()
    a, b = host(path, a_job, "a"), host(path, b_job, "b")
    await a.start()
    await wait_until(lambda: a_job.ticks > 0)
    await b.start()
    try:
        for task in a._tasks:  # dies: no release, no renewals
            task.cancel()
        died = time.monotonic()
        await wait_until(lambda: b_job.ticks > 0, within=5.0)
        assert time.monotonic() - died < 0.6 + 0.6 / 3 + 0.5
    finally:
        await b.stop()
        await a.stop()


async def test_a_holder_that_loses_its_lease_stops_ticking(tmp_path: Path) -> None:
    path = tmp_path / "w.sqlite3"
    job = Counting()
    a = host(path, job, "a")
    await a.start()
    try:
        await wait_until(lambda: job.ticks > 0)
        db = sqlite3.connect(path)
        with db:
            db.execute(
                "UPDATE worker_leases SET holder = 'thief', expires_at = ? WHERE job = 'counting'", (time.time() + 60,)
            )
        db.close()
        await wait_until(lambda: not a.stats["counting"].held, within=3.0)
        frozen = job.ticks
        await asyncio.sleep(0.3)  # several intervals: no tick may run without the lease
        assert job.ticks == frozen
    finally:
        await a.stop()


async def test_failing_ticks_are_counted_and_the_job_goes_on(tmp_path: Path) -> None:
    job = Counting()
    job.fail = True
    a = host(tmp_path / "w.sqlite3", job, "a")
    await a.start()
    try:
        await wait_until(lambda: a.stats["counting"].errors >= 3)
        job.fail = False
        await wait_until(lambda: job.ticks >= 3)
        lines = "\n".join(a.metric_lines('node="n1"'))
        assert 'tongpin_worker_lease_held{node="n1",job="counting"} 1' in lines
        assert "# TYPE tongpin_worker_errors_total counter" in lines
        assert a.stats["counting"].last_success_at > time.time() - 5
    finally:
        await a.stop()


class Blocking:
    """A job whose tick waits for the test to let it finish; records how each tick ended."""

    def __init__(self) -> None:
        self.name = "blocking"
        self.interval = 0.02
        self.started = asyncio.Event()
        self.release = asyncio.Event()
        self.finished = 0
        self.cancelled = 0

    async def tick(self, now: float) -> int:
        self.started.set()
        try:
            await self.release.wait()
        except asyncio.CancelledError:
            self.cancelled += 1
            raise
        self.finished += 1
        return 1


def holders(path: Path) -> dict[str, str]:
    db = sqlite3.connect(path)
    try:
        return dict(db.execute("SELECT job, holder FROM worker_leases").fetchall())
    finally:
        db.close()


def lease_expiry(path: Path) -> float:
    db = sqlite3.connect(path)
    try:
        return float(db.execute("SELECT expires_at FROM worker_leases").fetchone()[0])
    finally:
        db.close()


async def test_a_clean_stop_lets_the_running_tick_finish_then_releases(tmp_path: Path) -> None:
    path = tmp_path / "w.sqlite3"
    job = Blocking()
    a = WorkerHost([job], SqliteLeases(path), "a", ttl=0.6)
    await a.start()
    async with asyncio.timeout(5):
        await job.started.wait()
    stopping = asyncio.create_task(a.stop(grace=10.0))
    await wait_until(lambda: a.runners[0].stopping.is_set())
    expiry = lease_expiry(path)
    await wait_until(lambda: lease_expiry(path) > expiry, within=3.0)  # the finishing tick keeps its lease renewed
    assert not stopping.done() and holders(path) == {"blocking": "a"}
    job.release.set()
    async with asyncio.timeout(5):
        await stopping
    assert (job.finished, job.cancelled) == (1, 0)  # finished, and no new tick began
    assert a.stats["blocking"].ticks == 1 and a.health()["blocking"]["state"] == "stopped"
    assert holders(path) == {}  # released: free for another instance at once


async def test_a_tick_running_past_the_grace_is_cancelled_and_the_lease_released(tmp_path: Path) -> None:
    path = tmp_path / "w.sqlite3"
    job = Blocking()
    a = WorkerHost([job], SqliteLeases(path), "a", ttl=5.0)
    await a.start()
    async with asyncio.timeout(5):
        await job.started.wait()
    async with asyncio.timeout(5):
        await a.stop(grace=0.2)
    assert (job.finished, job.cancelled) == (0, 1)
    assert holders(path) == {}


async def test_health_reports_a_lasting_failure_never_a_single_one(tmp_path: Path) -> None:
    job = Counting()
    a = WorkerHost([job], SqliteLeases(tmp_path / "w.sqlite3"), "a", ttl=0.6, failing_after=0.3)
    await a.start()
    try:
        await wait_until(lambda: job.ticks >= 2)
        assert a.failing() == {} and a.health()["counting"]["state"] == "ticking"
        job.fail = True
        await wait_until(lambda: a.stats["counting"].errors >= 1)
        assert a.failing() == {}  # one failure is not a failing job
        await wait_until(lambda: bool(a.failing()), within=5.0)
        stats = a.stats["counting"]
        assert stats.errors_in_row >= FAILING_TICKS
        assert "RuntimeError: this tick fails" in a.failing()["counting"]
        assert a.health()["counting"]["state"] == "failing"
        assert 'tongpin_worker_failing{node="n1",job="counting"} 1' in "\n".join(a.metric_lines('node="n1"'))
        job.fail = False
        await wait_until(lambda: not a.failing())
        assert a.health()["counting"]["last_error"] is None
        assert 'tongpin_worker_failing{node="n1",job="counting"} 0' in "\n".join(a.metric_lines('node="n1"'))
    finally:
        await a.stop()


def test_failures_in_a_row_count_only_once_they_have_lasted() -> None:
    stats = JobStats(errors_in_row=FAILING_TICKS, erring_since=1000.0, last_error="boom")
    assert stats.failing(1000.0 + 29, 30.0) is None  # many quick failures: not yet
    assert stats.failing(1000.0 + 30, 30.0) is not None
    stats.errors_in_row = FAILING_TICKS - 1  # a long gap between two failures: not yet either
    assert stats.failing(1000.0 + 3600, 30.0) is None
    down = JobStats(lease_down_since=1000.0)
    assert down.failing(1010.0, 30.0) is None
    assert "lease store unreachable" in str(down.failing(1031.0, 30.0))
