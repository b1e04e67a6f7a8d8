"""A Hocuspocus provider, an npm y-websocket client and a pycrdt client co-edit one draft.

Concurrent Chinese edits (with a character outside the Basic Multilingual
Plane), each client dropping off and editing offline in turn, then
reconnecting: all three and the store end with the same text and state
vector. Then a SIGTERM: every socket, the provider's too, is closed with
1012 after its updates are stored, and the provider comes back by itself
when the hub is up again.
"""

from __future__ import annotations

import itertools

import pytest

from schema.close_codes import CloseCode
from tests.conftest import HubFactory, NodeFactory
from tests.hocuspocus.conftest import ROOM, AuthHub, HocusFactory
from tests.integration.helpers import Client, converged, doc_state_vector, doc_text, stored_doc
from tests.ypy_client import YClient

pytestmark = pytest.mark.node

DRAFT = "converge"
DOC = f"{ROOM}/{DRAFT}"


def without(text: str, start: int, length: int) -> str:
    return text[:start] + text[start + length :]


@pytest.mark.parametrize("version", ["v4", "v3"])
async def test_provider_ywebsocket_and_pycrdt_converge_through_reconnects(
    auth_hub: AuthHub, hp_clients: HocusFactory, node_clients: NodeFactory, version: str
) -> None:
    draft = f"{DRAFT}-{version}"
    doc = f"{ROOM}/{draft}"
    hocus = await hp_clients("hocus", version)
    await hocus.socket(auth_hub.url)
    await hocus.open(doc, auth_hub.token("dgdaily-editor"))
    ywebsocket = await node_clients("y-websocket")
    await ywebsocket.connect(f"ws://127.0.0.1:{auth_hub.proc.port}/yjs", doc, token=auth_hub.token("humen-editor"))
    pycrdt = YClient(auth_hub.yjs_url(draft, "dgrtv-reporter"))
    await pycrdt.connect()
    await hocus.wait_doc("synced", doc)
    await ywebsocket.wait_synced()
    await pycrdt.wait_synced()
    everyone: list[Client] = [hocus, ywebsocket, pycrdt]

    # 1. Concurrent inserts at the same place: each lands whole.
    pieces = ["同频编辑部：", "台风“海葵”登陆。", "城市𠮷融媒"]
    await hocus.insert_into(doc, 0, pieces[0])
    await ywebsocket.insert(0, pieces[1])
    pycrdt.insert(0, pieces[2])
    text, _ = await converged(everyone, doc)
    assert text in {"".join(order) for order in itertools.permutations(pieces)}

    # 2. Each client in turn drops off, edits offline while the others edit, and comes back.
    await hocus.call("disconnect")
    await hocus.wait_doc("status", doc, "disconnected")
    await hocus.insert_into(doc, 0, "【离线甲】")
    await ywebsocket.insert(len(text), "（在线乙）")
    text, _ = await converged([ywebsocket, pycrdt], doc)
    await hocus.call("connect")
    text, _ = await converged(everyone, doc)
    assert text.startswith("【离线甲】") and text.endswith("（在线乙）")

    await ywebsocket.disconnect()
    await ywebsocket.wait("connected", False)
    await ywebsocket.delete(0, 5)
    await hocus.insert_into(doc, 5, "𠮷")
    await ywebsocket.connect(f"ws://127.0.0.1:{auth_hub.proc.port}/yjs", doc)
    expected = without(text, 0, 5)
    text, _ = await converged(everyone, doc)
    assert text == "𠮷" + expected

    await pycrdt.close()
    pycrdt.delete(0, 1)
    pycrdt.insert(0, "【丙】")
    await hocus.delete_from(doc, len(text) - 5, 5)
    await pycrdt.connect()
    text, state_vector = await converged(everyone, doc)
    assert text == "【丙】" + expected[: len(expected) - 5]

    # 3. The provider's updates are all stored (sync status), and the store agrees with everyone.
    await hocus.wait_doc("unsynced", doc, 0)
    await pycrdt.close()
    stored = await stored_doc(auth_hub.proc.sqlite_path, ROOM, draft)
    assert doc_text(stored) == text
    assert doc_state_vector(stored) == state_vector


async def test_sigterm_closes_provider_sockets_with_1012_and_they_come_back(
    hub_factory: HubFactory, hp_clients: HocusFactory
) -> None:
    hub = hub_factory()  # authentication off: any token is taken
    url = f"ws://127.0.0.1:{hub.port}/hocuspocus"
    client = await hp_clients("restart")
    await client.socket(url)
    docs = [f"{ROOM}/one", f"{ROOM}/two"]
    for doc in docs:
        await client.open(doc, "any")
        await client.wait_doc("synced", doc)
        await client.insert_into(doc, 0, f"停机前{doc[-3:]}")
        await client.wait_doc("unsynced", doc, 0)
    await hub.sigterm()
    await client.wait_doc("closed", docs[0], int(CloseCode.SERVICE_RESTART))
    for doc in docs:
        stored = await stored_doc(hub.sqlite_path, ROOM, doc.split("/")[1])
        assert doc_text(stored) == f"停机前{doc[-3:]}"

    await client.insert_into(docs[1], 0, "重启中")
    await hub.restart()
    await client.wait_doc("connections", docs[1], 2, within=20)
    for doc in docs:
        await client.wait_doc("synced", doc, within=20)
    await client.wait_doc("unsynced", docs[1], 0)
    check = YClient(hub.ws_url(ROOM, "two"))
    await check.connect()
    await check.wait_text("重启中停机前two")
    await check.close()
