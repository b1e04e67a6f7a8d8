"""The Hocuspocus dialect across a cluster: two ``tongpin serve`` nodes on real PostgreSQL and Redis.

An unmodified ``@hocuspocus/provider`` on node 1 and an npm ``y-websocket``
client on node 2 co-edit one draft in Chinese: concurrent inserts, a
delete, edits while the provider is away. Both converge, the store holds
their text, and presence crosses the nodes both ways, the provider's caret
vanishing on node 2 when it closes the document.
"""

from __future__ import annotations

import itertools
import random
import uuid
from collections.abc import AsyncIterator

import pytest

from rooms.store import DraftKey
from tests.cluster.harness import WITHIN, ClusterUnderTest
from tests.cluster.services import postgres_schema, with_db
from tests.conftest import HubFactory, NodeFactory
from tests.hocuspocus.conftest import HocusFactory
from tests.integration.helpers import converged

pytestmark = [pytest.mark.postgres, pytest.mark.redis, pytest.mark.node, pytest.mark.slow]


@pytest.fixture
async def cluster(postgres_url: str, redis_url: str, hub_factory: HubFactory) -> AsyncIterator[ClusterUnderTest]:
    """Two nodes (authentication off) on a fresh schema and Redis database; they stop before the schema goes."""
    async with postgres_schema(postgres_url) as database:
        under_test = ClusterUnderTest(hub_factory, database, with_db(redis_url, random.randint(1, 15)))
        await under_test.start(2)
        yield under_test
        for node in under_test.nodes:
            node.stop()


async def test_a_provider_and_y_websocket_on_two_nodes_co_edit_and_see_each_other(
    cluster: ClusterUnderTest, hp_clients: HocusFactory, node_clients: NodeFactory
) -> None:
    n1, n2 = cluster.nodes
    room, draft = f"r{uuid.uuid4().hex[:8]}", "joint"
    doc = f"{room}/{draft}"
    hocus = await hp_clients("on-n1")
    await hocus.socket(f"ws://127.0.0.1:{n1.port}/hocuspocus")
    await hocus.open(doc, "any")
    ywebsocket = await node_clients("on-n2")
    await ywebsocket.connect(f"ws://127.0.0.1:{n2.port}/yjs", doc)
    await hocus.wait_doc("synced", doc, within=WITHIN)
    await ywebsocket.wait_synced(within=WITHIN)

    # Concurrent inserts at one place, one on each node: each lands whole, in one order for both.
    pieces = ["莞城融媒：", "台风“海葵”逼近𠮷"]
    await hocus.insert_into(doc, 0, pieces[0])
    await ywebsocket.insert(0, pieces[1])
    text, _ = await converged([hocus, ywebsocket], doc, within=WITHIN)
    assert text in {"".join(order) for order in itertools.permutations(pieces)}
    await hocus.insert_into(doc, len(text), "（完）")  # at the end: the delete at the front cannot move it
    await ywebsocket.delete(0, 2)
    expected = text[2:] + "（完）"
    text, _ = await converged([hocus, ywebsocket], doc, within=WITHIN)
    assert text == expected

    # Edits while the provider is away reach node 2 when it comes back.
    await hocus.call("disconnect")
    await hocus.wait_doc("status", doc, "disconnected")
    await hocus.insert_into(doc, 0, "【离线】")
    await ywebsocket.insert(0, "【在线】")
    await hocus.call("connect")
    text, state_vector = await converged([hocus, ywebsocket], doc, within=WITHIN)
    assert "【离线】" in text and "【在线】" in text
    await hocus.wait_doc("unsynced", doc, 0, within=WITHIN)
    await cluster.wait_stored(DraftKey(room, draft), text)

    # Presence crosses the nodes both ways, and the provider's caret goes when it closes the document.
    mine = (await hocus.awareness(doc, {"user": "东莞日报"}))["doc"]["clientID"]
    await ywebsocket.set_awareness({"user": "虎门"})
    both = sorted([str(mine), str(ywebsocket.client_id)])
    await hocus.wait_doc("awareness", doc, both, within=WITHIN)
    await ywebsocket.wait("awareness", both, within=WITHIN)
    await hocus.close_doc(doc)
    await ywebsocket.wait("awareness", [str(ywebsocket.client_id)], within=WITHIN)
    assert (await ywebsocket.state_vector()) == state_vector
