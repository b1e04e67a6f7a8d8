"""Live channels (``WS /live``): fan-out rate and latency, memory per subscription, recovery time.

    .venv/bin/python -m bench.live_bench [--subscribers 500] [--rates 100,500,1000] [--hold 2000]

The hub runs as ``tongpin serve`` on core 0 (SQLite, ``--auth off`` so that
one load generator may open thousands of sockets); the subscribers (Node,
``bench/js/live_subscribers.mjs``) and this publisher share core 1.

1. **Fan-out.** ``--subscribers`` sockets subscribe to one channel. Events
   are published through ``POST /live/publish`` at each fixed rate for
   ``--seconds``, in batches every 10 ms, each carrying the publisher's clock;
   then as fast as two concurrent publishers can (batches of 50). Figures:
   events per second delivered to every subscriber (deliveries / subscribers
   / window), and publish-to-receive latency p50/p99 over a sample of 50
   subscribers (commit, fan-out and the client's parse included).
2. **Memory.** RSS of a fresh hub, then ``--hold`` sockets each subscribed:
   (a) all to one channel, (b) each to its own channel. KiB per connection.
3. **Recovery.** 3,000 events on a channel; a client on an open socket
   resubscribes 1,000 events behind (beyond the feed's in-memory window, so
   from the store): time from sending ``subscribe`` to the 1,000th event.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx
import orjson
from websockets.asyncio.client import connect

from bench.servers import BENCH, LOADGEN_CORE, Server, check_setup, log, machine, save

SCRIPT = BENCH / "js" / "live_subscribers.mjs"
KEY = "bench-live-publish-key-0123456789abcdef"
CHANNEL = "unit:humen"


def hub(data_dir: Path) -> Server:
    return Server("tongpin", data_dir, extra=["--auth", "off"], env={"TONGPIN_LIVE_PUBLISH_KEYS": KEY})


def subscribers(config: dict[str, Any]) -> subprocess.Popen[str]:
    return subprocess.Popen(
        ["taskset", "-c", LOADGEN_CORE, "node", "--max-old-space-size=4096", str(SCRIPT), json.dumps(config)],
        cwd=BENCH / "js",
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )


def ask(proc: subprocess.Popen[str], command: str | None = None, timeout: float = 120.0) -> dict[str, Any]:
    assert proc.stdin is not None and proc.stdout is not None
    if command is not None:
        proc.stdin.write(command + "\n")
        proc.stdin.flush()
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        line = proc.stdout.readline()
        if not line:
            raise RuntimeError("subscriber process exited")
        if line.startswith("{"):
            result: dict[str, Any] = json.loads(line)
            return result
    raise RuntimeError("subscriber process said nothing in time")


async def publish_batch(http: httpx.AsyncClient, url: str, n: int, tag: str) -> None:
    t = time.time() * 1000
    events = [{"channels": [CHANNEL], "type": "bench.event", "data": {"t": t, "i": i}} for i in range(n)]
    headers = {"Authorization": f"Bearer {KEY}", "Idempotency-Key": tag}
    body = orjson.dumps({"events": events})
    for attempt in range(3):
        try:
            response = await http.post(url, content=body, headers=headers)
            break
        except (httpx.ReadError, httpx.RemoteProtocolError):
            # A keep-alive connection the server closed as it was reused: the
            # idempotency key makes the retry safe (published once either way).
            if attempt == 2:
                raise
    response.raise_for_status()


async def publish_at(url: str, rate: int, seconds: float) -> int:
    """``rate`` events/s for ``seconds``: a batch every 10 ms on an absolute schedule, each
    request sent on time whether or not the previous one has been answered (at most 64 in flight)."""
    per_tick = max(1, rate // 100)
    ticks = int(seconds * rate / per_tick)
    interval = per_tick / rate
    in_flight = asyncio.Semaphore(64)

    async def one(http: httpx.AsyncClient, k: int, tag: float) -> None:
        async with in_flight:
            await publish_batch(http, url, per_tick, f"r{rate}-{k}-{tag}")

    async with httpx.AsyncClient(timeout=30, limits=httpx.Limits(max_connections=64)) as http:
        start = time.monotonic()
        tasks = []
        for k in range(ticks):
            delay = start + k * interval - time.monotonic()
            if delay > 0:
                await asyncio.sleep(delay)
            tasks.append(asyncio.get_running_loop().create_task(one(http, k, start)))
        await asyncio.gather(*tasks)
    return ticks * per_tick


async def publish_flat_out(url: str, seconds: float, batch: int = 50, concurrency: int = 2) -> int:
    sent = 0
    deadline = time.monotonic() + seconds

    async def worker(w: int, http: httpx.AsyncClient) -> None:
        nonlocal sent
        k = 0
        while time.monotonic() < deadline:
            await publish_batch(http, url, batch, f"max-{w}-{k}-{deadline}")
            sent += batch
            k += 1

    async with httpx.AsyncClient(timeout=30) as http:
        await asyncio.gather(*(worker(w, http) for w in range(concurrency)))
    return sent


def fanout(n: int, rates: list[int], seconds: float) -> list[dict[str, Any]]:
    results = []
    with tempfile.TemporaryDirectory(prefix="bench-live-") as tmp, hub(Path(tmp)) as server:
        url = f"http://127.0.0.1:{server.port}/live/publish"
        proc = subscribers(
            {
                "mode": "fanout",
                "url": f"ws://127.0.0.1:{server.port}/live",
                "clients": n,
                "channel": CHANNEL,
                "sample": 50,
                "concurrency": 50,
            }
        )
        try:
            ready = ask(proc)
            assert ready["open"] == n, ready
            asyncio.run(publish_at(url, 200, 1.0))  # warm up
            time.sleep(1.0)
            ask(proc, "reset")
            for rate in [*rates, 0]:
                cpu0 = server.cpu_seconds()
                sent = asyncio.run(publish_at(url, rate, seconds) if rate else publish_flat_out(url, seconds))
                time.sleep(1.5)  # let the last events arrive
                cpu = server.cpu_seconds() - cpu0
                r = ask(proc, "stop")
                ask(proc, "reset")
                window = max(r["window_s"], 1e-9)
                row = {
                    "target_rate": rate or "max",
                    "published": sent,
                    "subscribers": n,
                    "deliveries": r["deliveries"],
                    "complete": r["deliveries"] == sent * n,
                    "events_per_s_per_subscriber": r["deliveries"] / n / window,
                    "deliveries_per_s": r["deliveries"] / window,
                    "latency_ms": r["latency_ms"],
                    "server_cpu_s": cpu,
                }
                lat = r["latency_ms"]
                log(
                    f"rate {row['target_rate']}: {row['events_per_s_per_subscriber']:.0f} events/s to each of {n} "
                    f"({row['deliveries_per_s']:.0f} deliveries/s), p50 {lat['p50']:.1f} ms, p99 {lat['p99']:.1f} ms, "
                    f"complete={row['complete']}"
                )
                results.append(row)
        finally:
            if proc.stdin is not None:
                proc.stdin.write("exit\n")
                proc.stdin.flush()
            proc.wait(30)
    return results


def memory(n: int, distinct: bool) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="bench-live-") as tmp, hub(Path(tmp)) as server:
        time.sleep(1.0)
        before = server.rss_kib()
        proc = subscribers(
            {
                "mode": "hold",
                "url": f"ws://127.0.0.1:{server.port}/live",
                "clients": n,
                "channel": CHANNEL,
                "distinct": distinct,
                "concurrency": 50,
            }
        )
        try:
            ready = ask(proc)
            time.sleep(3.0)
            after = server.rss_kib()
        finally:
            if proc.stdin is not None:
                proc.stdin.write("exit\n")
                proc.stdin.flush()
            proc.wait(30)
    row = {
        "connections": ready["open"],
        "distinct_channels": distinct,
        "rss_before_kib": before,
        "rss_after_kib": after,
        "kib_per_connection": (after - before) / max(1, ready["open"]),
    }
    log(
        f"memory ({'a channel each' if distinct else 'one channel'}): {row['kib_per_connection']:.2f} KiB per "
        f"subscribed connection ({ready['open']} open)"
    )
    return row


async def recovery_runs(port: int, runs: int, gap: int) -> list[float]:
    url = f"http://127.0.0.1:{port}/live/publish"
    async with httpx.AsyncClient(timeout=30) as http:
        for k in range(3 * gap // 500):
            await publish_batch(http, url, 500, f"fill-{k}")
    total = 3 * gap
    times = []
    async with connect(f"ws://127.0.0.1:{port}/live", max_size=None) as ws:
        await ws.recv()  # welcome
        first = orjson.loads(await _subscribe(ws, 1, None))
        epoch = first["epoch"]
        assert first["offset"] == total, first
        for run in range(runs):
            await ws.send(orjson.dumps({"type": "unsubscribe", "id": 2 * run + 2, "channel": CHANNEL}).decode())
            await ws.recv()
            since = {"epoch": epoch, "offset": total - gap}
            started = time.perf_counter()
            answer = orjson.loads(await _subscribe(ws, 2 * run + 3, since))
            assert answer["recovered"] is True and answer["missed"] == gap, answer
            for _ in range(gap - 1):
                await ws.recv()
            last = orjson.loads(await ws.recv())
            times.append(time.perf_counter() - started)
            assert last["offset"] == total, last
    return times


async def _subscribe(ws: Any, cid: int, since: dict[str, Any] | None) -> Any:
    body: dict[str, Any] = {"type": "subscribe", "id": cid, "channel": CHANNEL}
    if since is not None:
        body["since"] = since
    await ws.send(orjson.dumps(body).decode())
    return await ws.recv()


def recovery(runs: int = 20, gap: int = 1000) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="bench-live-") as tmp, hub(Path(tmp)) as server:
        times = asyncio.run(recovery_runs(server.port, runs, gap))
    ms = sorted(t * 1000 for t in times)
    row = {"gap": gap, "runs": runs, "p50_ms": statistics.median(ms), "max_ms": ms[-1], "min_ms": ms[0]}
    log(f"recover a {gap}-event gap: p50 {row['p50_ms']:.1f} ms, max {row['max_ms']:.1f} ms ({runs} runs)")
    return row


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--subscribers", type=int, default=500)
    parser.add_argument("--rates", default="100,500,1000")
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--hold", type=int, default=2000)
    args = parser.parse_args()
    check_setup()
    os.sched_setaffinity(0, {int(LOADGEN_CORE)})
    payload: dict[str, Any] = {"machine": machine()}
    payload["fanout"] = fanout(args.subscribers, [int(r) for r in args.rates.split(",") if r], args.seconds)
    payload["memory"] = [memory(args.hold, distinct=False), memory(args.hold, distinct=True)]
    payload["recovery"] = recovery()
    save("live", payload)


if __name__ == "__main__":
    main()
