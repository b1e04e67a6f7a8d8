"""``hub.cluster`` in one process: several nodes on one memory bus and one store.

The fast tier of the cluster tests: each node is a real Registry, Journal and
Cluster over a real SQLite file shared by all; the broker is the in-process
one, whose bus the tests can cut. Peers are in-memory connections.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from pathlib import Path

import pytest
from pycrdt import Doc, Text

from hub.cluster import Cluster, draft_channel
from rooms import codec
from rooms.awareness import AwarenessEntry, decode_awareness, encode_awareness
from rooms.draft import Draft
from rooms.journal import Journal
from rooms.memory_broker import MemoryBroker, MemoryBus
from rooms.registry import Registry, build_doc
from rooms.sqlite_store import SqliteStore
from rooms.store import DraftKey, StoreUnavailable
from tests.rooms.helpers import MemoryPeer
from tests.waiting import wait_until

KEY = DraftKey("room1", "draft1")


class FlakyStore(SqliteStore):
    """The real SQLite store whose appends can be refused on cue (fault injection)."""

    refuse_appends = False

    async def append(self, items: Sequence[tuple[DraftKey, bytes]]) -> list[int]:
        if self.refuse_appends:
            raise StoreUnavailable("injected: append refused")
        return await super().append(items)


class Node:
    def __init__(self, name: str, path: Path, bus: MemoryBus) -> None:
        self.name = name
        self.store = FlakyStore(path)
        self.journal = Journal(self.store)
        self.broker = MemoryBroker(name, bus)
        self.cluster = Cluster(
            name,
            self.broker,
            self.store,
            self.journal,
            heartbeat=0.05,
            node_timeout=0.5,
            min_resync=0.02,
            audit_interval=0.3,
        )
        self.registry = Registry(
            self.store,
            self.journal,
            grace=60,
            on_broadcast=self.cluster.on_broadcast,
            on_awareness=self.cluster.on_awareness,
            lifecycle=self.cluster,
        )

    async def start(self) -> None:
        await self.store.open()
        self.journal.start()
        await self.cluster.start()

    async def crash(self) -> None:
        """Vanish without a goodbye, as a SIGKILL would (nothing more is flushed)."""
        for task in self.cluster._tasks:
            task.cancel()
        await self.broker.close()
        await self.journal.stop(0)

    async def stop(self) -> None:
        await self.registry.close()
        await self.journal.stop(5)
        await self.cluster.stop()
        await self.store.close()


class Editor:
    """A client on one node: a pycrdt document whose changes go to the node as a peer's frames."""

    def __init__(self, client_id: int) -> None:
        self.doc: Doc[Text] = Doc(client_id=client_id)
        self.text = self.doc.get("t", type=Text)
        self.peer = MemoryPeer()
        self.draft: Draft | None = None
        self._seen = 0

    async def join(self, node: Node) -> None:
        self.draft = await node.registry.join(KEY, self.peer)
        self.draft.receive(self.peer, codec.sync_step1(self.doc.get_state()))
        self.draft.receive(self.peer, codec.sync_step2(self.doc.get_update(self.draft.doc.get_state())))
        self.pull()

    def type(self, s: str) -> None:
        assert self.draft is not None
        before = self.doc.get_state()
        self.text += s
        self.draft.receive(self.peer, codec.sync_update(self.doc.get_update(before)))

    def pull(self) -> str:
        """Apply what the node sent since last time; return the text."""
        for payload in self.peer.sent[self._seen :]:
            for msg in codec.decode_messages(payload):
                if msg.type == codec.MessageType.SYNC and msg.step != codec.SyncStep.STEP1:
                    self.doc.apply_update(msg.payload)
        self._seen = len(self.peer.sent)
        return str(self.text)

    def carets(self) -> dict[int, str]:
        """Awareness as this client sees it: client id -> state (null removed)."""
        seen: dict[int, str] = {}
        for payload in self.peer.sent:
            for msg in codec.decode_messages(payload):
                if msg.type == codec.MessageType.AWARENESS:
                    for e in decode_awareness(msg.payload):
                        seen[e.client_id] = e.state
        return {k: v for k, v in seen.items() if v != "null"}


@pytest.fixture
async def nodes(tmp_path: Path) -> AsyncIterator[list[Node]]:
    bus = MemoryBus()
    made = [Node(f"n{i}", tmp_path / "shared.sqlite3", bus) for i in range(3)]
    for node in made:
        await node.start()
    yield made
    for node in made:
        if node.broker.up:
            await node.stop()
        else:
            await node.store.close()


async def stored_text(node: Node) -> str:
    return str(build_doc(await node.store.load(KEY)).get("t", type=Text))


async def converge(editors: list[Editor], expected: str | None = None) -> str:
    def same() -> bool:
        texts = {e.pull() for e in editors}
        return len(texts) == 1 and (expected is None or texts == {expected})

    await wait_until(same, within=10)
    return editors[0].pull()


async def test_an_update_reaches_every_node_and_is_stored_once(nodes: list[Node]) -> None:
    editors = [Editor(10 + i) for i in range(3)]
    for editor, node in zip(editors, nodes, strict=True):
        await editor.join(node)
    editors[0].type("同频")
    editors[1].type("协作")
    text = await converge(editors)
    assert sorted(text) == sorted("同频协作")
    for node in nodes:
        await node.journal.flush()
    stored = await nodes[0].store.load(KEY)
    assert len(stored.updates) == 2, "each client update journaled once, by its own node"
    assert await stored_text(nodes[2]) == text
    assert all(n.cluster.stats.gaps == 0 for n in nodes)


async def test_carets_cross_nodes_and_vanish_when_their_client_leaves(nodes: list[Node]) -> None:
    a, b = Editor(21), Editor(22)
    await a.join(nodes[0])
    await b.join(nodes[1])
    assert a.draft is not None
    state = '{"user":{"name":"编辑甲"}}'
    a.draft.receive(a.peer, codec.awareness_message(encode_awareness([AwarenessEntry(21, 1, state)])))
    await wait_until(lambda: b.carets().get(21) == state)
    nodes[0].registry.leave(KEY, a.peer)
    await wait_until(lambda: 21 not in b.carets())


async def test_a_silently_lost_message_is_detected_and_caught_up(nodes: list[Node]) -> None:
    a, b = Editor(31), Editor(32)
    await a.join(nodes[0])
    await b.join(nodes[1])
    a.type("一")
    await converge([a, b], "一")
    subscribers = nodes[0].broker.bus.subscribers[draft_channel(KEY)]
    subscribers.discard(nodes[1].broker)  # the next message is lost on its way to n1, unannounced
    a.type("二")
    subscribers.add(nodes[1].broker)
    a.type("三")
    await converge([a, b], "一二三")
    assert nodes[1].cluster.stats.gaps >= 1


async def test_a_lost_last_message_is_caught_by_the_heartbeat(nodes: list[Node]) -> None:
    a, b = Editor(41), Editor(42)
    await a.join(nodes[0])
    await b.join(nodes[1])
    subscribers = nodes[0].broker.bus.subscribers[draft_channel(KEY)]
    subscribers.discard(nodes[1].broker)
    a.type("最后一条")
    subscribers.add(nodes[1].broker)
    await converge([a, b], "最后一条")  # nothing else is ever sent on the draft's channel


async def test_a_node_catches_up_after_a_broker_outage(nodes: list[Node]) -> None:
    a, b = Editor(51), Editor(52)
    await a.join(nodes[0])
    await b.join(nodes[1])
    nodes[1].broker.interrupt()
    for i in range(50):
        a.type(f"{i},")
    await nodes[0].journal.flush()
    nodes[1].broker.resume()
    await converge([a, b], "".join(f"{i}," for i in range(50)))


async def test_a_lost_node_is_mourned_and_what_it_had_not_stored_is_adopted(nodes: list[Node]) -> None:
    a, b, c = Editor(61), Editor(62), Editor(63)
    await a.join(nodes[0])
    await b.join(nodes[1])
    await c.join(nodes[2])
    state = '{"user":{"name":"乙"}}'
    assert a.draft is not None
    a.draft.receive(a.peer, codec.awareness_message(encode_awareness([AwarenessEntry(61, 1, state)])))
    await wait_until(lambda: b.carets().get(61) == state)
    nodes[0].store.refuse_appends = True  # n0 cannot store what its client writes...
    a.type("未存")
    await converge([a, b, c], "未存")  # ...but relays it
    await nodes[0].crash()
    # n1 and n2 notice the silence, drop n0's carets and store what only memory had.
    await wait_until(lambda: 61 not in b.carets() and 61 not in c.carets(), within=10)
    await wait_until(lambda: nodes[1].cluster.stats.adopted + nodes[2].cluster.stats.adopted >= 1, within=10)
    await nodes[1].journal.flush()
    await nodes[2].journal.flush()
    assert await stored_text(nodes[1]) == "未存"


async def test_broker_updates_are_never_journaled_or_published_again(nodes: list[Node]) -> None:
    a, b = Editor(71), Editor(72)
    await a.join(nodes[0])
    await b.join(nodes[1])
    published_before = nodes[1].cluster.stats.updates_out
    for i in range(20):
        a.type(str(i % 10))
    await converge([a, b])
    await nodes[0].journal.flush()
    await nodes[1].journal.flush()
    assert nodes[1].cluster.stats.updates_out == published_before
    assert nodes[1].cluster.stats.updates_in == 20
    assert len((await nodes[0].store.load(KEY)).updates) == 20


async def test_an_unloaded_and_reopened_draft_is_followed_again(nodes: list[Node]) -> None:
    a, b = Editor(81), Editor(82)
    await a.join(nodes[0])
    await b.join(nodes[1])
    nodes[1].registry.grace = 0.01
    nodes[1].registry.leave(KEY, b.peer)
    await wait_until(lambda: nodes[1].registry.unloads == 1)
    a.type("离开时")
    b2 = Editor(83)
    await b2.join(nodes[1])
    a.type("回来后")
    await converge([a, b2], "离开时回来后")
    assert nodes[1].broker in nodes[0].broker.bus.subscribers[draft_channel(KEY)]


async def test_an_update_that_waited_for_its_dependency_still_reaches_every_node(nodes: list[Node]) -> None:
    """No counter sees this one: the periodic state-vector exchange does.

    A client on n0 sends an update built on one n0 has not received (it was
    lost on its way from n1). n0 logs it, pending; the gap repair brings the
    dependency and the update integrates on n0, but it never travels as an
    update of its own: n1 learns of it at the next periodic exchange.
    """
    a, b = Editor(91), Editor(92)
    await a.join(nodes[0])
    await b.join(nodes[1])
    subscribers = nodes[1].broker.bus.subscribers[draft_channel(KEY)]
    subscribers.discard(nodes[0].broker)
    b.type("依赖")
    base = b.doc.get_state()
    b.text.insert(0, "后续")
    built_on_it = b.doc.get_update(base)
    subscribers.add(nodes[0].broker)
    assert a.draft is not None
    a.draft.receive(a.peer, codec.sync_update(built_on_it))  # pending on n0
    await wait_until(lambda: str(nodes[0].registry.open[KEY].doc.get("t", type=Text)) == "后续依赖")
    await wait_until(lambda: str(nodes[1].registry.open[KEY].doc.get("t", type=Text)) == "后续依赖")
