"""A burst of 10,000 events while client connections are cut at random points.

Each follower subscribes, reads, and at random moments has its TCP
connection cut with no close handshake (a train entering a tunnel), at times
before its subscribe was even answered. It reconnects, resubscribes with the
last epoch and offset it has, and goes on. In the end every follower must
have seen every event exactly once, in order.

- One node: a real hub process on SQLite.
- Two nodes: two hub processes sharing PostgreSQL and Redis. Followers
  reconnect to either node at random, and the events are published through
  both, so recovery crosses nodes and a node's live stream mixes its own
  events with the other's.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import AsyncIterator, Sequence
from contextlib import AsyncExitStack, asynccontextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
from websockets.exceptions import ConnectionClosed

from tests.cluster.services import REDIS_URL, check_redis, postgres_schema, with_db
from tests.live.helpers import HubProcess, LiveWS, Node

pytestmark = [pytest.mark.timeout(120), pytest.mark.slow]

TOTAL = 10_000
BATCH = 100
FOLLOWERS = 4
CHANNEL = "unit:humen"
USER = "humen-editor"


class Follower:
    """One client that follows the channel across cuts, checking each event as it comes."""

    def __init__(self, nodes: Sequence[Node], rng: random.Random) -> None:
        self.nodes = nodes
        self.rng = rng
        self.epoch: str | None = None
        self.last = 0
        self.seqs: list[int] = []
        self.cuts = 0
        self.subscribed = asyncio.Event()

    async def run(self, total: int) -> None:
        first = True
        while self.last < total:
            node = self.rng.choice(self.nodes)
            client = await LiveWS(node.live_url(USER), check_events_every=97).open()
            try:
                since = None if self.epoch is None else {"epoch": self.epoch, "offset": self.last}
                await client.send(client.command("subscribe", channel=CHANNEL, **({"since": since} if since else {})))
                if not first and self.rng.random() < 0.2:
                    self._cut(client)  # before the answer: the hub may or may not have handled it
                    continue
                await self._follow(client, first, budget=self.rng.randint(1, 2500), total=total)
                first = False
            except ConnectionClosed:
                first = False
            finally:
                await client.close()

    def _cut(self, client: LiveWS) -> None:
        client.abort()
        self.cuts += 1

    async def _follow(self, client: LiveWS, first: bool, budget: int, total: int) -> None:
        while True:
            frame = await client.recv(within=30)
            if frame["type"] == "subscribed":
                if first:
                    assert "recovered" not in frame and frame["offset"] == 0
                    self.epoch = frame["epoch"]
                    self.subscribed.set()
                else:
                    assert frame["recovered"] is True, frame
                    assert (frame["epoch"], frame["offset"]) == (self.epoch, self.last), frame
            elif frame["type"] == "event":
                assert frame["epoch"] == self.epoch
                assert frame["offset"] == self.last + 1, f"expected {self.last + 1}, got {frame['offset']}"
                self.last = frame["offset"]
                self.seqs.append(frame["data"]["seq"])
                budget -= 1
                if self.last >= total:
                    return
                if budget <= 0:
                    self._cut(client)
                    return
            else:
                raise AssertionError(f"unexpected frame {frame}")


async def burst(nodes: Sequence[Node], seed: int) -> None:
    rng = random.Random(seed)
    followers = [Follower(nodes, random.Random(rng.random())) for _ in range(FOLLOWERS)]
    tasks = [asyncio.get_running_loop().create_task(f.run(TOTAL)) for f in followers]
    try:
        async with asyncio.timeout(30):
            await asyncio.gather(*(f.subscribed.wait() for f in followers))
        async with httpx.AsyncClient(timeout=30) as http:
            for b in range(TOTAL // BATCH):
                events = [
                    {"channels": [CHANNEL], "type": "burst.event", "data": {"seq": b * BATCH + i}} for i in range(BATCH)
                ]
                answer = await nodes[b % len(nodes)].publish(events, f"burst-{seed}-{b}", http=http)
                assert answer["events"][-1]["offset"] == (b + 1) * BATCH
        async with asyncio.timeout(60):
            await asyncio.gather(*tasks)
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
    for f in followers:
        assert f.seqs == list(range(TOTAL)), "every event exactly once, in order"
        assert f.cuts >= 2, "the test must actually cut connections"


@asynccontextmanager
async def processes(*hubs: HubProcess) -> AsyncIterator[list[HubProcess]]:
    started: list[HubProcess] = []
    try:
        for hub in hubs:
            started.append(await asyncio.to_thread(hub.start))
        yield started
    finally:
        for hub in started:
            await asyncio.to_thread(hub.stop)


async def test_burst_with_random_cuts_on_one_node(tmp_path: Path) -> None:
    async with processes(HubProcess(tmp_path / "a")) as nodes:
        await burst(nodes, seed=5)


async def test_burst_with_random_cuts_on_two_nodes_with_redis(tmp_path: Path) -> None:
    await check_redis()
    async with AsyncExitStack() as stack:
        database = await stack.enter_async_context(postgres_schema())
        redis = with_db(REDIS_URL, random.randint(2, 15))
        secret = "burst-secret-" + "x" * 40
        env: dict[str, Any] = {"TONGPIN_DATABASE_URL": database, "TONGPIN_REDIS_URL": redis}
        # One secret for both nodes (as in any cluster); tokens are minted from A's data directory.
        (tmp_path / "a").mkdir()
        (tmp_path / "a" / "secret.key").write_text(secret)
        hubs = [
            HubProcess(tmp_path / "a", {**env, "TONGPIN_SECRET": secret}),
            HubProcess(tmp_path / "b", {**env, "TONGPIN_SECRET": secret}),
        ]
        nodes = await stack.enter_async_context(processes(*hubs))
        # Production mode (a secret is set) seeds no demo people: add the one the followers are.
        await seed_user(database)
        for node in nodes[1:]:
            node.data_dir = nodes[0].data_dir
        await burst(nodes, seed=11)
        for node in nodes:  # both nodes served followers and heard the other's events
            metrics = await node.metrics()
            assert metrics["tongpin_live_deliveries_total"] > 0 and metrics["tongpin_live_broker_received_total"] > 0


async def seed_user(database: str) -> None:
    import asyncpg  # type: ignore[import-untyped,unused-ignore]

    conn = await asyncpg.connect(database)
    try:
        await conn.execute(
            "INSERT INTO users (id, name, unit, roles) VALUES ($1, '黄编辑', 'humen', 'editor') ON CONFLICT DO NOTHING",
            USER,
        )
    finally:
        await conn.close()
