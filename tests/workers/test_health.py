"""``/healthz`` and ``/metrics`` of the hub and of a worker process report each job, and degrade for what matters.

A job whose ticks keep failing makes the instance that runs it 503
``degraded`` once the failure has lasted (``workers.runtime``), and healthy
again after a good tick; so does a worker process's broker outage.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx

from hub.config import Settings
from rooms.memory_broker import MemoryBroker
from tests.live.helpers import hub_in_process
from tests.waiting import wait_until
from workers.leases import SqliteLeases
from workers.process import WorkerNode
from workers.runtime import WorkerHost


class Flaky:
    """A job whose ticks fail while ``fail`` is set."""

    name = "flaky"
    interval = 0.02

    def __init__(self) -> None:
        self.fail = True

    async def tick(self, now: float) -> int:
        if self.fail:
            raise RuntimeError("the feed database is gone")
        return 1


@contextlib.asynccontextmanager
async def hosting(path: Path, job: Flaky) -> AsyncIterator[WorkerHost]:
    host = WorkerHost([job], SqliteLeases(path), "test", ttl=2.0, failing_after=0.2)
    await host.start()
    try:
        yield host
    finally:
        await host.stop()


async def test_the_hub_is_degraded_while_a_job_fails_lastingly(tmp_path: Path) -> None:
    async with hub_in_process(tmp_path, workers="none") as node:
        job = Flaky()
        async with hosting(node.hub.settings.sqlite_path, job) as host, httpx.AsyncClient(timeout=5) as http:
            node.hub.workers = host

            async def until(code: int) -> dict[str, Any]:
                async with asyncio.timeout(10):
                    while True:
                        response = await http.get(f"{node.http}/healthz")
                        if response.status_code == code:
                            body: dict[str, Any] = response.json()
                            return body
                        await asyncio.sleep(0.02)

            health = await until(503)
            assert health["status"] == "degraded" and "flaky" in health["failing_jobs"], health
            assert health["jobs"]["flaky"]["state"] == "failing"
            assert "the feed database is gone" in health["jobs"]["flaky"]["last_error"]
            metrics = (await http.get(f"{node.http}/metrics")).text
            for series in ("failing", "errors_total", "ticks_total", "last_success_seconds", "lease_held"):
                assert f'tongpin_worker_{series}{{node="{node.hub.settings.node_id}",job="flaky"}}' in metrics

            job.fail = False
            health = await until(200)
            assert health["status"] == "ok" and health["jobs"]["flaky"]["state"] == "ticking"
            node.hub.workers = None


async def test_a_worker_process_is_degraded_while_a_job_fails_or_its_broker_is_down(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path, node_id="w1", workers="none")
    node = WorkerNode(settings, [])
    node.broker = MemoryBroker("w1")
    async with node:
        assert node.health()["status"] == "ok"
        job = Flaky()
        async with hosting(settings.sqlite_path, job) as host:
            node.host = host
            await wait_until(lambda: node.health()["status"] == "degraded")
            assert list(node.health()["failing_jobs"]) == ["flaky"]
            job.fail = False
            await wait_until(lambda: node.health()["status"] == "ok")
            assert 'tongpin_broker_up{node="w1"} 1' in node.metric_lines()
            node.broker.interrupt()
            assert node.health()["status"] == "degraded" and node.health()["broker"] == "down"
            node.broker.resume()
            await wait_until(lambda: node.health()["status"] == "ok")
            node.host = None
