"""Fan-out across nodes: one draft's clients spread over 2 nodes, against all on 1 node.

    .venv/bin/python -m bench.cluster_fanout [--seconds 10]

Setups, each a real ``tongpin serve`` per node, every node pinned to core 0
(so two nodes share what one had), the load generator on core 1:
- ``1 node, embedded``: SQLite and the in-process broker (the reference);
- ``1 node, cluster backends``: PostgreSQL and Redis, all clients on it;
- ``2 nodes``: PostgreSQL and Redis, clients and writers split evenly.

Clients (this process): writers are pycrdt documents sending real Yjs
updates, each inserting a marker ``<<id>>``; every client, writers
included, is a raw y-websocket connection that does the sync handshake and
then only reads, timing each marker it sees (one clock: one process).
Reported: fan-out latency p50/p99 over every delivery, deliveries missing,
and server CPU per delivered update (the nodes plus redis-server).
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import re
import statistics
import time
from dataclasses import dataclass, field

from pycrdt import Doc, Text
from websockets.asyncio.client import ClientConnection, connect

from bench.cluster_common import (
    DATABASE_URL,
    REDIS_URL,
    cpu_seconds,
    log,
    nodes,
    pin,
    postgres_schema,
    print_result,
    redis_pid,
)
from rooms import codec

MARKER = re.compile(rb"<<(\d+)>>")
RUNS = itertools.count(int(time.time()))


@dataclass
class Tracker:
    """Send times by marker id; latencies of deliveries of ids from ``first`` on."""

    sent: dict[int, float] = field(default_factory=dict)
    latencies: list[float] = field(default_factory=list)
    first: int = 1 << 62  # no id counts until the window opens

    def seen(self, frame: bytes, now: float) -> None:
        for match in MARKER.finditer(frame):
            ident = int(match.group(1))
            if ident >= self.first:
                self.latencies.append(now - self.sent[ident])


async def receiver(url: str, tracker: Tracker, ready: asyncio.Event) -> ClientConnection:
    ws = await connect(url, max_size=None, compression=None, close_timeout=2)
    await ws.send(codec.sync_step1(b"\x00"))

    async def read() -> None:
        async for frame in ws:
            assert isinstance(frame, bytes)
            if frame[:2] == b"\x00\x00":  # the hub's step 1: answer with nothing of ours
                await ws.send(codec.sync_step2(b"\x00\x00"))
                ready.set()
            else:
                tracker.seen(frame, time.perf_counter())

    asyncio.get_running_loop().create_task(read())
    return ws


class Writer:
    def __init__(self, url: str, client_id: int) -> None:
        self.url = url
        self.doc: Doc[Text] = Doc(client_id=client_id)
        self.text = self.doc.get("t", type=Text)
        self.ws: ClientConnection | None = None

    async def start(self) -> None:
        self.ws = await connect(self.url, max_size=None, compression=None, close_timeout=2)
        await self.ws.send(codec.sync_step1(self.doc.get_state()))

    async def write(self, ident: int, tracker: Tracker) -> None:
        assert self.ws is not None
        before = self.doc.get_state()
        self.text += f"<<{ident}>>"
        tracker.sent[ident] = time.perf_counter()
        await self.ws.send(codec.sync_update(self.doc.get_update(before)))


async def run(
    setup: str, urls: list[str], pids: list[int], clients: int, rate: float, seconds: float
) -> dict[str, object]:
    room = f"bench/fanout{next(RUNS)}"  # a fresh draft: writers' client ids must be new to it
    tracker = Tracker()
    readies = [asyncio.Event() for _ in range(clients)]
    sockets = []
    for i in range(clients):
        sockets.append(await receiver(f"{urls[i % len(urls)]}/{room}", tracker, readies[i]))
    await asyncio.gather(*(r.wait() for r in readies))
    writers = [Writer(f"{urls[i % len(urls)]}/{room}", 1000 + i) for i in range(5)]
    for w in writers:
        await w.start()
    ids = itertools.count(1)
    interval = 1.0 / rate

    async def pace(duration: float) -> int:
        n = 0
        start = time.perf_counter()
        while time.perf_counter() - start < duration:
            await writers[n % len(writers)].write(next(ids), tracker)
            n += 1
            await asyncio.sleep(max(0.0, start + n * interval - time.perf_counter()))
        return n

    await pace(2.0)  # warm up
    tracker.first = len(tracker.sent) + 1
    cpu0 = sum(cpu_seconds(p) for p in pids)
    sent = await pace(seconds)
    expected = sent * clients  # every raw client gets every update (the writers are separate)
    deadline = time.perf_counter() + 5
    while len(tracker.latencies) < expected and time.perf_counter() < deadline:  # noqa: ASYNC110
        await asyncio.sleep(0.01)
    cpu1 = sum(cpu_seconds(p) for p in pids)
    delivered = len(tracker.latencies)
    lat = sorted(tracker.latencies)
    await asyncio.gather(*(ws.close() for ws in sockets), *(w.ws.close() for w in writers if w.ws is not None))
    result = {
        "setup": setup,
        "clients": clients,
        "updates_per_s": rate,
        "p50_ms": round(statistics.median(lat) * 1e3, 2),
        "p99_ms": round(lat[int(len(lat) * 0.99)] * 1e3, 2),
        "missing": expected - delivered,
        "cpu_us_per_delivery": round((cpu1 - cpu0) / max(1, delivered) * 1e6, 2),
        "cpu_us_per_update": round((cpu1 - cpu0) / max(1, sent) * 1e6, 1),
        "updates": sent,
    }
    log(str(result))
    return result


async def main(seconds: float) -> None:
    pin(1)
    loads = [(50, 40.0), (200, 20.0)]
    results = []
    for clients, rate in loads:
        with nodes([{}]) as (one,):
            results.append(await run("1 node, embedded", [one.ws], [one.proc.pid], clients, rate, seconds))
        async with postgres_schema(DATABASE_URL) as db:
            env = {"TONGPIN_DATABASE_URL": db, "TONGPIN_REDIS_URL": REDIS_URL.rsplit("/", 1)[0] + "/9"}
            rpid = redis_pid(REDIS_URL)
            extra = [rpid] if rpid is not None else []
            with nodes([env]) as (one,):
                results.append(
                    await run("1 node, cluster backends", [one.ws], [one.proc.pid, *extra], clients, rate, seconds)
                )
            with nodes([env, env]) as two:
                results.append(
                    await run("2 nodes", [n.ws for n in two], [n.proc.pid for n in two] + extra, clients, rate, seconds)
                )
    for r in results:
        print_result("cluster_fanout", r)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=10.0)
    asyncio.run(main(parser.parse_args().seconds))
