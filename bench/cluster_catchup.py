"""Catch-up: how long a node takes to be whole again after missing 10,000 updates.

    .venv/bin/python -m bench.cluster_catchup [--updates 10000]

Two nodes in this process, each a real Journal, Registry, Compactor and
Cluster over one PostgreSQL schema, each with its own RedisBroker on the real
Redis; node B reaches Redis through a TCP proxy the benchmark cuts. While B
is cut off, a client of node A types ``--updates`` one-character updates
(A journals and compacts them as usual). Then the proxy is restored and the
clock runs from B's ``on_up`` (broker back) until B's document equals A's.

Three ways to catch up are timed:
- ``both``: the default; B asks its peers (one state-vector round trip) and
  reconciles with the store at once; whichever lands first wins.
- ``peers``: B's store reads fail, so only the peers' answer can heal it.
- ``store``: A has left the cluster, so only the store can heal B.
Also reported: from the proxy's restore to ``on_up`` (reconnect backoff).
"""

from __future__ import annotations

import argparse
import asyncio
import time

from pycrdt import Doc, Text

from bench.cluster_common import DATABASE_URL, REDIS_URL, log, postgres_schema, print_result
from hub.cluster import Cluster
from rooms import codec
from rooms.draft import Draft
from rooms.journal import Journal
from rooms.postgres_store import PostgresStore
from rooms.redis_broker import RedisBroker
from rooms.registry import Registry
from rooms.store import DraftKey, StoredDraft, StoreUnavailable
from tests.cluster.harness import TcpProxy
from tests.rooms.helpers import MemoryPeer
from workers.compaction import Compactor

KEY = DraftKey("bench", "catchup")


class BlindStore(PostgresStore):
    """A store whose reads fail: B's reconciliation can never finish (the ``peers`` case)."""

    blind = False

    async def load(self, key: DraftKey) -> StoredDraft:
        if self.blind:
            raise StoreUnavailable("bench: reads switched off")
        return await super().load(key)


class BenchNode:
    def __init__(self, name: str, db_url: str, redis_url: str, prefix: str, poll: float = 2.0) -> None:
        self.store = BlindStore(db_url)
        self.journal = Journal(self.store)
        self.compactor = Compactor(self.store)
        self.broker = RedisBroker(redis_url, name, prefix=prefix)
        self.cluster = Cluster(name, self.broker, self.store, self.journal, poll_interval=poll)
        self.registry = Registry(
            self.store,
            self.journal,
            request_compaction=self.compactor.request,
            on_broadcast=self.cluster.on_broadcast,
            on_awareness=self.cluster.on_awareness,
            lifecycle=self.cluster,
        )
        self.compactor.on_compacted = self.registry.compacted
        self.peer = MemoryPeer()
        self.draft: Draft | None = None
        self.up_at = 0.0

    async def start(self) -> None:
        await self.store.open()
        self.journal.start()
        self.compactor.start()
        await self.cluster.start()
        on_up = self.cluster.on_up

        def timed_on_up() -> None:
            self.up_at = time.perf_counter()
            on_up()

        self.cluster.on_up = timed_on_up  # type: ignore[method-assign]
        self.draft = await self.registry.join(KEY, self.peer)
        self.peer.sent.clear()  # keep nothing but what the benchmark reads

    async def stop(self) -> None:
        await self.registry.close()
        await self.journal.stop(30)
        await self.compactor.stop()
        await self.cluster.stop()
        await self.store.close()

    def text(self) -> str:
        assert self.draft is not None
        return str(self.draft.doc.get("t", type=Text))


async def type_into(node: BenchNode, n: int) -> None:
    """A client of ``node`` types ``n`` one-character updates, in bursts the journal can take."""
    assert node.draft is not None
    doc: Doc[Text] = Doc(client_id=99)
    doc.apply_update(node.draft.doc.get_update())
    text = doc.get("t", type=Text)
    for i in range(n):
        before = doc.get_state()
        text += "稿" if i % 3 else "a"
        node.draft.receive(node.peer, codec.sync_update(doc.get_update(before)))
        node.peer.sent.clear()
        if i % 200 == 199:
            await node.journal.flush()
    await node.journal.flush()


async def scenario(mode: str, updates: int) -> dict[str, object]:
    async with postgres_schema(DATABASE_URL) as db:
        redis_port = int(REDIS_URL.split(":")[2].split("/")[0])
        proxy = await TcpProxy(redis_port).start()
        prefix = f"bench-{time.monotonic_ns()}:"
        a = BenchNode("A", db, REDIS_URL, prefix)
        # B does not poll the store while cut off: what it missed must all be caught up after.
        b = BenchNode("B", db, f"redis://127.0.0.1:{proxy.port}/0", prefix, poll=1e9)
        await a.start()
        await b.start()
        try:
            await proxy.cut()
            while b.broker.up:  # noqa: ASYNC110 - the session notices the reset
                await asyncio.sleep(0.005)
            started = time.perf_counter()
            await type_into(a, updates)
            typed = time.perf_counter() - started
            await asyncio.sleep(0.5)  # let A's compactor finish its last run
            stored = await a.store.load(KEY)
            if mode == "store":
                await a.cluster.stop()  # A leaves: only the store knows what B missed
            if mode == "peers":
                b.store.blind = True
            expected = a.text()
            restored = time.perf_counter()
            await proxy.restore()
            while b.text() != expected:  # noqa: ASYNC110 - a 1 ms poll is the clock's resolution
                await asyncio.sleep(0.001)
            done = time.perf_counter()
            b.store.blind = False
            result = {
                "mode": mode,
                "missed_updates": updates,
                "catch_up_ms": round((done - b.up_at) * 1e3, 1),
                "reconnect_ms": round((b.up_at - restored) * 1e3, 1),
                "store_log_rows": len(stored.updates),
                "store_snapshot_kib": round(len(stored.snapshot or b"") / 1024, 1),
                "typing_s": round(typed, 1),
            }
            log(str(result))
            return result
        finally:
            await b.stop()
            await a.stop()
            await proxy.close()


async def main(updates: int) -> None:
    for mode in ("both", "peers", "store"):
        print_result("cluster_catchup", await scenario(mode, updates))


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--updates", type=int, default=10_000)
    asyncio.run(main(parser.parse_args().updates))
