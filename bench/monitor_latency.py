"""Monitor latency: from a feed fetch to the alert on an open ``/live`` client.

    .venv/bin/python -m bench.monitor_latency [--alerts 200] [--sources 4]
        [--database-url postgresql://...] [--redis-url redis://...]

A ``tongpin serve`` hub (core 0; SQLite by default) hosts the monitor jobs
(``TONGPIN_MONITOR_TICK=0.05``; ``TONGPIN_MONITOR_ALLOW_PRIVATE=1``, since
the feeds are on loopback). This process serves ``--sources`` RSS
feeds on loopback (aiohttp) and holds one ``/live`` client subscribed to
``alerts``. For each alert, a feed gets one new matching item (and a new
ETag); the clock starts when the feed server answers the fetch that carries
it, and stops when the ``alert.new`` event for its URL arrives on the
socket. That span is the monitor's own work: the body's transfer, parsing,
matching, the store transaction with its event, announcing and fan-out.
Also reported: from the item's appearance in the feed (adds the wait for
the next fetch, about the 1 s source interval).

Baseline in the same run: ``POST /live/publish`` of one event to
``alerts``, from the request to its arrival on the same socket (commit,
announce and fan-out only). The ratio says what the fetch path adds.
Target: fetch → client p99 under 1 s.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx
import orjson
from aiohttp import web
from websockets.asyncio.client import ClientConnection, connect

from bench.servers import Server, log, machine, save

KEY = "bench-monitor-publish-key-0123456789abcdef"
PLACES = ["虎门", "长安", "松山湖", "大朗", "常平", "塘厦", "厚街", "清溪", "石龙", "樟木头", "凤岗", "寮步"]
TARGET_P99 = 1.0


class Feeds:
    """RSS feeds on loopback; remembers when each version of a body was first served."""

    def __init__(self, count: int) -> None:
        self.items: list[list[tuple[str, str]]] = [[] for _ in range(count)]
        self.bodies: list[bytes] = [self._rss(i) for i in range(count)]
        self.versions = [0] * count
        self.first_served: dict[tuple[int, int], float] = {}
        self.port = 0
        self._runner: web.AppRunner | None = None

    def _rss(self, i: int) -> bytes:
        items = "".join(f"<item><title>{t}</title><link>{u}</link></item>" for t, u in self.items[i][-50:])
        return f'<?xml version="1.0"?><rss version="2.0"><channel><title>f{i}</title>{items}</channel></rss>'.encode()

    def add(self, i: int, title: str, url: str) -> int:
        self.items[i].append((title, url))
        self.bodies[i] = self._rss(i)
        self.versions[i] += 1
        return self.versions[i]

    async def _serve(self, request: web.Request) -> web.Response:
        i = int(request.match_info["i"])
        etag = f'"v{self.versions[i]}"'
        if request.headers.get("If-None-Match") == etag:
            return web.Response(status=304, headers={"ETag": etag})
        self.first_served.setdefault((i, self.versions[i]), time.perf_counter())
        return web.Response(body=self.bodies[i], headers={"ETag": etag, "Content-Type": "application/rss+xml"})

    async def start(self) -> None:
        app = web.Application()
        app.router.add_get("/feed/{i}", self._serve)
        self._runner = web.AppRunner(app, handle_signals=False, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        assert site._server is not None
        self.port = int(site._server.sockets[0].getsockname()[1])  # type: ignore[attr-defined]

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()


class Listener:
    """Reads ``alerts`` events and resolves the waiter of each URL (or event tag)."""

    def __init__(self, ws: ClientConnection) -> None:
        self.ws = ws
        self.waiting: dict[str, asyncio.Future[float]] = {}
        self.task = asyncio.get_running_loop().create_task(self._read())

    def expect(self, key: str) -> asyncio.Future[float]:
        fut: asyncio.Future[float] = asyncio.get_running_loop().create_future()
        self.waiting[key] = fut
        return fut

    async def _read(self) -> None:
        async for raw in self.ws:
            now = time.perf_counter()
            frame = orjson.loads(raw)
            if frame.get("type") != "event":
                continue
            data = frame["data"]
            key = data.get("url") if frame["event"] == "alert.new" else data.get("tag")
            fut = self.waiting.pop(key, None) if isinstance(key, str) else None
            if fut is not None and not fut.done():
                fut.set_result(now)


def percentiles(samples: list[float]) -> dict[str, float]:
    ordered = sorted(samples)
    return {
        "n": len(ordered),
        "p50_ms": round(1000 * statistics.median(ordered), 2),
        "p99_ms": round(1000 * ordered[min(len(ordered) - 1, int(0.99 * len(ordered)))], 2),
        "max_ms": round(1000 * ordered[-1], 2),
    }


async def run(alerts: int, sources: int, env: dict[str, str]) -> dict[str, Any]:
    feeds = Feeds(sources)
    await feeds.start()
    data_dir = Path(tempfile.mkdtemp(prefix="tongpin-monitor-bench-"))
    hub_env = {
        "TONGPIN_MONITOR_TICK": "0.05",
        "TONGPIN_MONITOR_ALLOW_PRIVATE": "1",
        "TONGPIN_LIVE_PUBLISH_KEYS": KEY,
        **env,
    }
    with Server("tongpin", data_dir, env=hub_env) as server:
        base = f"http://127.0.0.1:{server.port}"
        async with httpx.AsyncClient(base_url=base, timeout=30) as http:
            token = (await http.post("/api/dev/signin", json={"user": "dgrelease-monitor"})).json()["token"]
            auth = {"Authorization": f"Bearer {token}"}
            rule = {"name": "bench", "any": ["暴雨", "内涝"], "severity": "medium"}
            assert (await http.post("/api/monitor/rules", json=rule, headers=auth)).status_code == 201
            async with connect(f"ws://127.0.0.1:{server.port}/live", max_size=None) as ws:
                await ws.recv()  # welcome
                await ws.send(orjson.dumps({"type": "subscribe", "id": 1, "channel": "alerts"}).decode())
                await ws.recv()  # subscribed
                listener = Listener(ws)
                for i in range(sources):
                    body = {"url": f"http://127.0.0.1:{feeds.port}/feed/{i}", "interval": 1, "timeout": 5}
                    assert (await http.post("/api/monitor/sources", json=body, headers=auth)).status_code == 201

                fetch_to_live: list[float] = []
                appear_to_live: list[float] = []

                async def one_source(i: int) -> None:
                    for k in range(i, alerts, sources):
                        url = f"https://news.example/{k}.html"
                        arrived = listener.expect(url)
                        added = time.perf_counter()
                        version = feeds.add(i, f"{PLACES[k % len(PLACES)]}暴雨内涝通报 第{k}号", url)
                        received = await asyncio.wait_for(arrived, 30)
                        fetch_to_live.append(received - feeds.first_served[(i, version)])
                        appear_to_live.append(received - added)

                started = time.perf_counter()
                await asyncio.gather(*(one_source(i) for i in range(sources)))
                monitor_seconds = time.perf_counter() - started

                publish_to_live: list[float] = []
                headers = {"Authorization": f"Bearer {KEY}"}
                for k in range(alerts):
                    arrived = listener.expect(f"p{k}")
                    sent = time.perf_counter()
                    event = {"channels": ["alerts"], "type": "bench.ping", "data": {"tag": f"p{k}"}}
                    response = await http.post(
                        "/live/publish", json={"events": [event]}, headers={**headers, "Idempotency-Key": f"b{k}"}
                    )
                    assert response.status_code in (200, 201), response.text
                    publish_to_live.append(await asyncio.wait_for(arrived, 30) - sent)
                listener.task.cancel()
    await feeds.stop()
    fetch = percentiles(fetch_to_live)
    baseline = percentiles(publish_to_live)
    return {
        "alerts": alerts,
        "sources": sources,
        "seconds": round(monitor_seconds, 1),
        "fetch_to_live": fetch,
        "appear_to_live": percentiles(appear_to_live),
        "baseline_publish_to_live": baseline,
        "ratio_p50": round(fetch["p50_ms"] / baseline["p50_ms"], 2),
        "target_p99_ms": 1000 * TARGET_P99,
        "meets_target": fetch["p99_ms"] < 1000 * TARGET_P99,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--alerts", type=int, default=200)
    parser.add_argument("--sources", type=int, default=4)
    parser.add_argument("--database-url", default="")
    parser.add_argument("--redis-url", default="")
    args = parser.parse_args()
    env = {}
    if args.database_url:
        env["TONGPIN_DATABASE_URL"] = args.database_url
    if args.redis_url:
        env["TONGPIN_REDIS_URL"] = args.redis_url
    result = asyncio.run(run(args.alerts, args.sources, env))
    backend = "postgresql" if args.database_url else "sqlite"
    log(f"monitor latency ({backend}): {orjson.dumps(result).decode()}")
    save("monitor_latency", {"machine": machine(), "backend": backend, **result})


if __name__ == "__main__":
    main()
