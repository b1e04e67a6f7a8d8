"""Three real hub nodes, real PostgreSQL and Redis, real npm y-websocket clients, real faults.

Each test starts three ``tongpin serve`` processes configured only with
``TONGPIN_DATABASE_URL`` and ``TONGPIN_REDIS_URL`` (plus a node id), puts two
Node clients on each node, types numbered tokens into one draft from all of
them at once, breaks something in the middle, and then checks that every
client holds the same text, that every token typed is in it exactly once,
and that the store holds exactly that text.
"""

from __future__ import annotations

import asyncio
import os
import random
import signal
import time
import uuid
from collections.abc import AsyncIterator, Callable
from urllib.parse import urlsplit, urlunsplit

import pytest

from rooms.store import DraftKey
from tests.cluster.harness import ClusterUnderTest, TcpProxy, Typist, converged, health, wait_health
from tests.cluster.services import PrivateRedis, postgres_schema, with_db
from tests.conftest import HubFactory, HubProcess, NodeFactory

pytestmark = [pytest.mark.postgres, pytest.mark.redis, pytest.mark.node, pytest.mark.slow]


@pytest.fixture
async def database(postgres_url: str) -> AsyncIterator[str]:
    async with postgres_schema(postgres_url) as url:
        yield url


MakeCluster = Callable[..., ClusterUnderTest]


@pytest.fixture
def make_cluster(database: str, hub_factory: HubFactory) -> MakeCluster:
    """``make_cluster(redis_url, database_url=None, **env)``; the nodes stop before the schema is dropped."""

    def make(redis_url: str, database_url: str | None = None, **env: str) -> ClusterUnderTest:
        return ClusterUnderTest(hub_factory, database_url or database, redis_url, **env)

    return make


def own_redis_db(redis_url: str) -> str:
    """A random database number: the nodes' channels are namespaced by it (see rooms.redis_broker)."""
    return with_db(redis_url, random.randint(1, 15))


async def typists_on(
    nodes: list[HubProcess], node_clients: NodeFactory, room: str, per_node: int = 2, **params: str
) -> list[Typist]:
    clients = await asyncio.gather(*(node_clients(f"c{i}") for i in range(len(nodes) * per_node)))
    typists = [Typist(c, f"t{i}", room) for i, c in enumerate(clients)]
    await asyncio.gather(*(t.connect(nodes[i % len(nodes)], **params) for i, t in enumerate(typists)))
    return typists


def draft_of(room: str) -> DraftKey:
    room_name, draft = room.split("/")
    return DraftKey(room_name, draft)


def new_room() -> str:
    return f"r{uuid.uuid4().hex[:8]}/draft"


async def test_clients_on_three_nodes_converge_while_the_nodes_compact_the_draft(
    make_cluster: MakeCluster, node_clients: NodeFactory, redis_url: str
) -> None:
    cluster = make_cluster(own_redis_db(redis_url), TONGPIN_COMPACT_THRESHOLD="4")
    nodes = await cluster.start()
    room = new_room()
    typists = await typists_on(nodes, node_clients, room)

    async def compactions() -> float:
        return sum([await n.metric("tongpin_compactions_total") for n in nodes])

    async def wait_compactions(at_least: float, within: float = 20.0) -> None:
        seen = 0.0
        try:
            async with asyncio.timeout(within):
                while (seen := await compactions()) < at_least:  # noqa: ASYNC110
                    await asyncio.sleep(0.05)
        except TimeoutError:
            raise AssertionError(f"{seen} compactions after {within} s, wanted {at_least}") from None

    # Two rounds: the second one logs on top of a snapshot some node already
    # wrote, so a later compaction has to fold it in with the log.
    await asyncio.gather(*(t.type_many(15) for t in typists))
    await wait_compactions(1)
    first = await compactions()
    await asyncio.gather(*(t.type_many(15) for t in typists))
    text = await converged(typists)
    await cluster.wait_stored(draft_of(room), text)
    await wait_compactions(first + 1)
    # The stored text is still exactly the clients' text after the last snapshot.
    await cluster.wait_stored(draft_of(room), text)
    # Broker updates were applied, not stored again: each node published only its own clients' updates.
    for node in nodes:
        metrics = await node.metrics()
        assert metrics["tongpin_cluster_updates_in_total"] > 0
        assert metrics["tongpin_broker_up"] == 1 and metrics["tongpin_cluster_peers"] == 2

    # Carets cross nodes, and vanish everywhere when their client leaves.
    for t in typists:
        await t.client.set_awareness({"user": {"name": t.name}})
    everyone = [t.client.client_id for t in typists]
    await asyncio.gather(*(t.client.wait("awareness", everyone, within=20) for t in typists))
    leaver = typists.pop(0)
    await leaver.client.close()
    rest = [t.client.client_id for t in typists]
    await asyncio.gather(*(t.client.wait("awareness", rest, within=20) for t in typists))


async def test_a_node_killed_mid_editing_loses_no_edit_of_a_live_client(
    make_cluster: MakeCluster, node_clients: NodeFactory, redis_url: str
) -> None:
    cluster = make_cluster(own_redis_db(redis_url))
    nodes = await cluster.start()
    room = new_room()
    typists = await typists_on(nodes, node_clients, room)
    victims = [t for t in typists if t.node is nodes[0]]
    halfway = asyncio.Event()

    async def kill_and_move() -> None:
        await halfway.wait()
        await nodes[0].sigkill()
        for i, t in enumerate(victims):
            await t.move_to(nodes[1 + i % 2])

    mover = asyncio.create_task(kill_and_move())
    await asyncio.gather(
        *(t.type_many(40, every=lambda n: n == 15 and halfway.set()) for t in typists),
        mover,
    )
    text = await converged(typists)
    await cluster.wait_stored(draft_of(room), text)
    for node in nodes[1:]:
        await node.wait_metric("tongpin_cluster_nodes_lost_total", lambda v: v >= 1, "n0 mourned", within=20)


async def test_a_node_paused_until_declared_lost_catches_up_when_it_resumes(
    make_cluster: MakeCluster, node_clients: NodeFactory, redis_url: str
) -> None:
    """A long pause of its own (here SIGSTOP): the others mourn it; it resynchronises on waking."""
    cluster = make_cluster(own_redis_db(redis_url))
    nodes = await cluster.start()
    room = new_room()
    typists = await typists_on(nodes, node_clients, room)
    await asyncio.gather(*(t.type_many(5) for t in typists))
    os.kill(nodes[0].pid, signal.SIGSTOP)
    try:
        await asyncio.gather(*(t.type_many(10) for t in typists))  # n0's clients type into a frozen node
        for node in nodes[1:]:
            await wait_health(node, lambda h: h["peers"] == 1, "n0 declared lost")
    finally:
        os.kill(nodes[0].pid, signal.SIGCONT)
    await asyncio.gather(*(t.type_many(5) for t in typists))
    text = await converged(typists)
    await cluster.wait_stored(draft_of(room), text)
    await wait_health(nodes[0], lambda h: h["status"] == "ok" and h["peers"] == 2, "n0 back among its peers")


async def test_redis_restarted_mid_editing_loses_nothing_and_everything_converges(
    make_cluster: MakeCluster, node_clients: NodeFactory
) -> None:
    async with PrivateRedis() as redis:
        cluster = make_cluster(redis.url)
        nodes = await cluster.start()
        room = new_room()
        typists = await typists_on(nodes, node_clients, room)
        await asyncio.gather(*(t.type_many(10) for t in typists))

        await redis.stop()
        for node in nodes:
            await wait_health(node, lambda h: h.get("broker") == "down", "the broker down")
        await asyncio.gather(*(t.type_many(15) for t in typists))  # editing goes on, each node alone
        await redis.start()
        for node in nodes:
            await wait_health(node, lambda h: h.get("broker") == "ok", "the broker back")

        await asyncio.gather(*(t.type_many(10) for t in typists))
        text = await converged(typists)
        await cluster.wait_stored(draft_of(room), text)
        for node in nodes:
            assert await node.metric("tongpin_broker_outages_total") == 1


def via(url: str, port: int) -> str:
    parts = urlsplit(url)
    netloc = parts.netloc.rsplit("@", 1)
    host = f"127.0.0.1:{port}"
    return urlunsplit(parts._replace(netloc=f"{netloc[0]}@{host}" if len(netloc) == 2 else host))


async def test_postgres_unreachable_for_ten_seconds(
    make_cluster: MakeCluster, node_clients: NodeFactory, database: str, redis_url: str
) -> None:
    """Editing goes on; nothing reported stored is lost; /healthz degrades; the backlog drains; its bound holds."""
    proxy = await TcpProxy(urlsplit(database).port or 5432).start()
    try:
        cluster = make_cluster(own_redis_db(redis_url), via(database, proxy.port))
        bound = 30
        nodes = await cluster.start(n2={"TONGPIN_JOURNAL_BACKLOG": str(bound)})
        room = new_room()
        typists = await typists_on(nodes, node_clients, room, stored="1")
        await asyncio.gather(*(t.type_many(5) for t in typists))
        await asyncio.gather(*(t.client.wait("stored", 5, within=20) for t in typists))

        await proxy.cut()
        cut_at = time.monotonic()
        await asyncio.gather(*(t.type_many(1) for t in typists))
        for node in nodes:
            body = await wait_health(node, lambda h: h.get("store") == "degraded", "the store degraded")
            assert body["status"] == "degraded"
        before = {t.name: (await t.client.report())["stored"] for t in typists}

        # Ten seconds without PostgreSQL: clients on n0 and n1 keep editing and see each other.
        # n2 holds at most `bound` updates for the store; past it its clients are refused
        # with 1013. Each, once refused, goes offline and keeps typing into its own copy.
        live = [t for t in typists if t.node is not nodes[2]]
        bounded = [t for t in typists if t.node is nodes[2]]
        refused: set[str] = set()
        while time.monotonic() - cut_at < 10:
            await asyncio.gather(*(t.type_many(1) for t in typists))
            await live[1].sees(live[0].tokens()[-1])  # typed on n0, seen on n1
            for t in bounded:
                if t.name not in refused and any(e.get("code") == 1013 for e in t.client.events):
                    refused.add(t.name)
                    await t.client.disconnect()  # (the provider would retry on its own; spare the log)
        assert refused == {t.name for t in bounded}, "n2's clients were refused at the backlog bound"
        assert (await health(nodes[2]))["journal_backlog"] <= bound
        for t in live:
            now = (await t.client.report())["stored"]
            assert now == before[t.name], f"{t.name}: stored went from {before[t.name]} to {now} with the store down"

        await proxy.restore()
        for node in nodes:
            await wait_health(node, lambda h: h["status"] == "ok" and h["journal_backlog"] == 0, "the backlog drained")
        for t in bounded:
            await t.connect(nodes[2])
        text = await converged(typists)
        await cluster.wait_stored(draft_of(room), text)
        for t in live:  # everything the live clients sent is now reported stored
            sent = len((await t.client.report())["sent"])
            await t.client.wait("stored", sent, within=20)
    finally:
        await proxy.close()
