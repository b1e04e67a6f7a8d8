"""Three hub processes on loopback sharing PostgreSQL and Redis, and ways to hurt them.

- ``ClusterUnderTest``: ``tongpin serve`` nodes (``tests.conftest.HubProcess``)
  configured only through ``TONGPIN_DATABASE_URL`` and ``TONGPIN_REDIS_URL``,
  as an operator would, plus a node id each. The database is a fresh schema;
  the Redis database number is random, which keeps the channels apart too.
- ``TcpProxy``: a loopback TCP proxy in front of a service. ``cut`` resets
  every connection and refuses new ones, as an unreachable host would;
  ``restore`` listens again on the same port.
- ``Typist``: one Node y-websocket client typing numbered tokens, so the
  tests can tell lost and duplicated edits apart from reordered ones.
"""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections import Counter
from collections.abc import Callable
from typing import Any

import httpx
from pycrdt import Text

from rooms.postgres_store import PostgresStore
from rooms.registry import build_doc
from rooms.store import DraftKey
from tests.conftest import HubFactory, HubProcess
from tests.integration.node_client import NodeClient

# The node timeout and heartbeat are the defaults of hub.cluster.Cluster.
WITHIN = 40.0  # seconds any convergence may take, faults included


class ClusterUnderTest:
    def __init__(self, hub_factory: HubFactory, database_url: str, redis_url: str, **env: str) -> None:
        self.hub_factory = hub_factory
        self.database_url = database_url
        self.redis_url = redis_url
        self.env = env
        self.tag = uuid.uuid4().hex[:6]
        self.nodes: list[HubProcess] = []

    async def start(self, n: int = 3, **per_node: dict[str, str]) -> list[HubProcess]:
        """Start ``n`` nodes at once; ``per_node["n1"]`` adds variables for node 1."""

        def one(i: int) -> HubProcess:
            env = {
                "TONGPIN_DATABASE_URL": self.database_url,
                "TONGPIN_REDIS_URL": self.redis_url,
                "TONGPIN_NODE_ID": f"n{i}-{self.tag}",
                **self.env,
                **per_node.get(f"n{i}", {}),
            }
            return self.hub_factory(env=env)

        self.nodes = list(await asyncio.gather(*(asyncio.to_thread(one, i) for i in range(n))))
        return self.nodes

    async def stored_text(self, key: DraftKey) -> str:
        store = PostgresStore(self.database_url, migrate=False)
        await store.open()
        try:
            return str(build_doc(await store.load(key)).get("t", type=Text))
        finally:
            await store.close()

    async def wait_stored(self, key: DraftKey, text: str, within: float = WITHIN) -> None:
        last = ""
        try:
            async with asyncio.timeout(within):
                while (last := await self.stored_text(key)) != text:  # noqa: ASYNC110 - another process's state
                    await asyncio.sleep(0.1)
        except TimeoutError:
            raise AssertionError(f"store holds {last!r}\nclients have {text!r}") from None


async def health(node: HubProcess) -> dict[str, Any]:
    async with httpx.AsyncClient(timeout=5) as client:
        response = await client.get(f"{node.http}/healthz")
    body: dict[str, Any] = response.json()
    return body


async def wait_health(node: HubProcess, condition: Callable[[dict[str, Any]], bool], what: str) -> dict[str, Any]:
    body: dict[str, Any] = {}
    try:
        async with asyncio.timeout(WITHIN):
            while not condition(body := await health(node)):  # noqa: ASYNC110 - another process's state
                await asyncio.sleep(0.05)
    except TimeoutError:
        raise AssertionError(f"/healthz of {node.http} never showed {what}: {body}") from None
    return body


class Typist:
    """A Node client that types numbered tokens ``<name>.<i>;``."""

    def __init__(self, client: NodeClient, name: str, room: str) -> None:
        self.client = client
        self.name = name
        self.room = room
        self.typed = 0
        self.node: HubProcess | None = None

    async def connect(self, node: HubProcess, **params: str) -> None:
        self.node = node
        await self.client.connect(node.ws_base, self.room, **params)
        await self.client.wait_synced(within=20)

    async def move_to(self, node: HubProcess) -> None:
        """Reconnect to another node, as a load balancer would send it after its node died."""
        self.node = node
        await self.client.connect(node.ws_base, self.room)

    async def type_one(self) -> None:
        # At the start: the only position no concurrent edit can move into a token
        # between choosing it and inserting there (the driver's text changes meanwhile).
        await self.client.insert(0, f"{self.name}.{self.typed};")
        self.typed += 1

    async def type_many(self, n: int, *, every: Callable[[int], object] | None = None) -> None:
        for _ in range(n):
            await self.type_one()
            if every is not None:
                every(self.typed)

    async def sees(self, token: str, within: float = WITHIN) -> None:
        """Wait until this client's text holds ``token`` (typed by someone, anywhere)."""
        text = ""
        try:
            async with asyncio.timeout(within):
                while f"{token};" not in (text := str((await self.client.report())["text"])):  # noqa: ASYNC110
                    await asyncio.sleep(0.02)
        except TimeoutError:
            raise AssertionError(f"{self.name} never saw {token}: {text!r}") from None

    def tokens(self) -> list[str]:
        return [f"{self.name}.{i}" for i in range(self.typed)]


def tokens_in(text: str) -> Counter[str]:
    return Counter(t for t in text.split(";") if t)


async def converged(typists: list[Typist], within: float = WITHIN) -> str:
    """Wait until every client holds the same text; check each typed token is in it exactly once."""
    texts: list[str] = []
    try:
        async with asyncio.timeout(within):
            while True:
                texts = [str((await t.client.report())["text"]) for t in typists]
                if len(set(texts)) == 1:
                    break
                await asyncio.sleep(0.05)
    except TimeoutError:
        lines = "\n".join(
            f"  {t.name}: {len(x)} chars, {sum(tokens_in(x).values())} tokens"
            for t, x in zip(typists, texts, strict=True)
        )
        raise AssertionError(f"clients did not converge:\n{lines}") from None
    expected = Counter(token for t in typists for token in t.tokens())
    got = tokens_in(texts[0])
    assert got == expected, f"every edit exactly once, nothing else: missing {expected - got}, extra {got - expected}"
    return texts[0]


class TcpProxy:
    """A loopback TCP proxy to one service that can be cut and restored."""

    def __init__(self, target_port: int, target_host: str = "127.0.0.1") -> None:
        self.target = (target_host, target_port)
        self.port = 0
        self._server: asyncio.Server | None = None
        self._writers: set[asyncio.StreamWriter] = set()
        self._pumps: set[asyncio.Task[None]] = set()

    async def start(self) -> TcpProxy:
        self._server = await asyncio.start_server(self._accept, "127.0.0.1", self.port)
        self.port = int(self._server.sockets[0].getsockname()[1])
        return self

    async def cut(self) -> None:
        """Reset every connection and stop listening: new connects are refused."""
        if self._server is not None:
            self._server.close()
            self._server = None
        for writer in self._writers:
            writer.transport.abort()
        self._writers.clear()

    async def restore(self) -> None:
        await self.start()

    async def close(self) -> None:
        await self.cut()
        for task in self._pumps:
            task.cancel()
        await asyncio.gather(*self._pumps, return_exceptions=True)

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            up_reader, up_writer = await asyncio.open_connection(*self.target)
        except OSError:
            writer.transport.abort()
            return
        self._writers |= {writer, up_writer}
        loop = asyncio.get_running_loop()
        for src, dst in ((reader, up_writer), (up_reader, writer)):
            task = loop.create_task(self._pump(src, dst))
            self._pumps.add(task)
            task.add_done_callback(self._pumps.discard)

    async def _pump(self, src: asyncio.StreamReader, dst: asyncio.StreamWriter) -> None:
        with contextlib.suppress(OSError, ConnectionError):
            while data := await src.read(65536):
                dst.write(data)
                await dst.drain()
        dst.transport.abort()
        self._writers.discard(dst)
