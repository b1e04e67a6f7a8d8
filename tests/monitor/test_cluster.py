"""The monitor on a cluster: each alert exactly once across nodes and a killed holder; worker takeover.

Real processes on port 0, one PostgreSQL schema, one Redis database, a local
feed server. A ``/live`` subscriber counts every alert event.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.cluster.services import REDIS_URL, check_redis, postgres_schema, with_db
from tests.live.helpers import HubProcess, LiveWS, mint
from tests.monitor.helpers import Entry, Feed, FeedServer, WorkerProcess, lease_held, rss
from tests.waiting import wait_until

pytestmark = [pytest.mark.postgres, pytest.mark.redis, pytest.mark.slow]

RULE = {"name": "突发", "any": ["暴雨", "内涝", "封闭", "火灾", "塌方"], "severity": "medium"}
PLACES = ["虎门", "长安", "松山湖", "大朗", "常平", "塘厦", "厚街", "清溪", "石龙", "樟木头", "凤岗", "寮步"]
EVENTS = ["暴雨", "内涝", "道路封闭", "工厂火灾", "山体塌方"]


def story(i: int) -> Entry:
    """A distinct story: no two share a URL, a title or a near-identical text."""
    place, what = PLACES[i % len(PLACES)], EVENTS[i % len(EVENTS)]
    area, team = "东南西北"[i % 4], "甲乙丙丁戊"[i % 5]
    summary = f"{place}第{i}号通报：{what}影响{i * 7 % 13 + 2}条道路，{area}片区{team}组正在处置。"
    return Entry(f"{place}{what}通报（{i}）", f"https://news.example/{i}.html", summary)


def duplicates(i: int) -> list[Entry]:
    """The same story again: other tracking parameters; the title in traditional characters elsewhere."""
    s = story(i)
    traditional = s.title.translate(str.maketrans("门长东报通", "門長東報通"))
    return [
        Entry(s.title + "！", f"{s.url}?utm_source=wechat&from=timeline", s.summary),
        Entry(traditional, f"https://mirror.example/{i}", s.summary),
    ]


@contextlib.asynccontextmanager
async def services() -> AsyncIterator[dict[str, str]]:
    await check_redis()
    async with postgres_schema() as url:
        redis = with_db(REDIS_URL, random.randint(2, 15))
        yield {
            "TONGPIN_DATABASE_URL": url,
            "TONGPIN_REDIS_URL": redis,
            "TONGPIN_MONITOR_TICK": "0.2",
            "TONGPIN_MONITOR_ALLOW_PRIVATE": "1",  # the feed server is on loopback
        }


async def api(base: str, token: str, method: str, path: str, **kw: Any) -> Any:
    async with httpx.AsyncClient(timeout=10) as http:
        response = await http.request(method, f"{base}{path}", headers={"Authorization": f"Bearer {token}"}, **kw)
    assert response.status_code in (200, 201), response.text
    return response.json()


async def metrics_text(base: str) -> str:
    async with httpx.AsyncClient(timeout=5) as http:
        return (await http.get(f"{base}/metrics")).text


class Counter:
    """Reads alert events off one ``/live`` subscription, checking offsets are consecutive."""

    def __init__(self, client: LiveWS, offset: int) -> None:
        self.client = client
        self.offset = offset
        self.ids: list[str] = []
        self.task = asyncio.get_running_loop().create_task(self._read())

    async def _read(self) -> None:
        while True:
            frame = await self.client.expect("event", within=120)
            assert frame["offset"] == self.offset + 1, frame
            self.offset = frame["offset"]
            if frame["event"] == "alert.new":
                self.ids.append(frame["data"]["id"])

    async def close(self) -> None:
        self.task.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await self.task
        await self.client.close()


async def counter(hub: HubProcess) -> Counter:
    client = await hub.client("dgrelease-monitor")
    answer = await client.subscribe("alerts")
    assert answer["type"] == "subscribed"
    return Counter(client, answer["offset"])


async def test_each_alert_once_across_two_nodes_and_a_killed_fetcher(tmp_path: Path) -> None:
    async with services() as env, FeedServer() as feeds:
        env["TONGPIN_WORKER_LEASE_TTL"] = "2"
        hubs = [HubProcess(tmp_path / f"hub{i}", env).start() for i in range(2)]
        counters: list[Counter] = []
        try:
            entries = [story(i) for i in range(6)]
            feeds.feeds["/dg.xml"] = Feed(rss(entries))
            token = mint(hubs[0].data_dir, "dgrelease-monitor")
            await api(hubs[0].http, token, "POST", "/api/monitor/rules", json=RULE)
            counters = [await counter(h) for h in hubs]
            await api(
                hubs[0].http,
                token,
                "POST",
                "/api/monitor/sources",
                json={"url": feeds.url("/dg.xml"), "interval": 1, "timeout": 3},
            )
            await wait_until(lambda: all(len(c.ids) == 6 for c in counters), within=20)

            holders = [i for i, h in enumerate(hubs) if lease_held(await metrics_text(h.http), "monitor-fetch")]
            assert len(holders) == 1, holders
            killed, survivor = hubs[holders[0]], hubs[1 - holders[0]]
            feeds.feeds["/dg.xml"].body = rss([*entries, *duplicates(0), *duplicates(5)])  # old news, seen again
            seen = feeds.hits["/dg.xml"]
            await wait_until(lambda: feeds.hits["/dg.xml"] >= seen + 2, within=10)
            killed.kill()  # the fetcher dies; the survivor takes over and fetches everything again
            await counters[holders[0]].close()
            count = counters[1 - holders[0]]
            entries += [story(i) for i in range(6, 12)]
            feeds.feeds["/dg.xml"].body = rss([*entries, *duplicates(3), *duplicates(8)])
            await wait_until(lambda: len(count.ids) == 12, within=30)
            seen = feeds.hits["/dg.xml"]
            await wait_until(lambda: feeds.hits["/dg.xml"] >= seen + 3, within=10)  # fetched thrice more

            assert len(set(count.ids)) == len(count.ids) == 12
            stored = await api(
                survivor.http, mint(survivor.data_dir, "dgdaily-commander"), "GET", "/api/alerts?limit=100"
            )
            assert sorted(a["id"] for a in stored["items"]) == sorted(count.ids)
            fresh = await survivor.client("dgdaily-commander")
            assert (await fresh.subscribe("alerts"))["offset"] == count.offset  # nothing more was published
            await fresh.close()
            assert lease_held(await metrics_text(survivor.http), "monitor-fetch")
        finally:
            for c in counters:
                await c.close()
            for h in hubs:
                h.stop()


async def test_sigkilled_worker_process_is_taken_over_within_seconds(tmp_path: Path) -> None:
    async with services() as env, FeedServer() as feeds:
        feeds.feeds["/dg.xml"] = Feed(rss([story(0)]))
        hub = HubProcess(tmp_path / "hub", {**env, "TONGPIN_WORKERS": "none"}).start()
        workers = [
            WorkerProcess(tmp_path / f"w{i}", ["monitor-fetch", "alert-escalation"], env).start() for i in range(2)
        ]
        count: Counter | None = None
        try:
            token = mint(hub.data_dir, "dgrelease-monitor")
            await api(hub.http, token, "POST", "/api/monitor/rules", json=RULE)
            count = await counter(hub)
            await api(
                hub.http,
                token,
                "POST",
                "/api/monitor/sources",
                json={"url": feeds.url("/dg.xml"), "interval": 1, "timeout": 3},
            )
            await wait_until(lambda: len(count.ids) == 1, within=15)  # published by a worker, through Redis
            held = [await w.lease_held("monitor-fetch") for w in workers]
            assert held.count(True) == 1, held
            holder, other = (workers[0], workers[1]) if held[0] else (workers[1], workers[0])
            health = (await other.get("/healthz")).json()
            assert health["jobs"]["monitor-fetch"]["lease_held"] is False

            holder.kill()
            killed = time.monotonic()
            async with asyncio.timeout(15):
                while not await other.lease_held("monitor-fetch"):  # noqa: ASYNC110 - another process's state
                    await asyncio.sleep(0.05)
            took = time.monotonic() - killed
            print(f"takeover after SIGKILL: {took:.2f} s (lease TTL 5 s)")
            assert took < 5 + 5 / 3 + 1.5
            feeds.feeds["/dg.xml"].body = rss([story(0), story(1)])
            await wait_until(lambda: len(count.ids) == 2, within=15)

            assert other.terminate() in (0, -15)  # uvicorn re-raises SIGTERM after a graceful shutdown
            log = other.log()
            assert "lease taken" in log and "Application shutdown complete" in log and "Traceback" not in log
        finally:
            if count is not None:
                await count.close()
            for w in workers:
                w.stop()
            hub.stop()
