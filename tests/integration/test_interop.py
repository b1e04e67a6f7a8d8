"""Interop: two npm y-websocket clients and one pycrdt client co-edit one draft.

Concurrent inserts and deletes of Chinese text (with a character outside the
Basic Multilingual Plane, which JS counts as two UTF-16 units, pycrdt as four
UTF-8 bytes and Python as one code point), disconnects and reconnects in the
middle, edits made while offline. In the end all three clients hold the same
bytes and the same state vector, and so does what the hub stored.
"""

from __future__ import annotations

import asyncio
import itertools
import random
from typing import Any

import pytest
from pycrdt import Doc, Text

from rooms import codec
from rooms.awareness import AwarenessEntry, encode_awareness
from tests.conftest import HubProcess, NodeFactory
from tests.integration.helpers import (
    Client,
    burst,
    converged,
    doc_state_vector,
    doc_text,
    raw_socket,
    stored_doc,
)
from tests.ypy_client import YClient

pytestmark = pytest.mark.node

ROOM, DRAFT = "dgdaily", "typhoon-brief"


def without(text: str, deleted: set[int]) -> str:
    return "".join(c for i, c in enumerate(text) if i not in deleted)


async def test_node_and_pycrdt_clients_converge_with_the_store(hub: HubProcess, node_clients: NodeFactory) -> None:
    a = await node_clients("a")
    b = await node_clients("b")
    p = YClient(hub.ws_url(ROOM, DRAFT))
    for node in (a, b):
        await node.connect(hub.ws_base, f"{ROOM}/{DRAFT}")
    await p.connect()
    await a.wait_synced()
    await b.wait_synced()
    await p.wait_synced()
    everyone: list[Client] = [a, b, p]

    # 1. Concurrent inserts at the same place: each lands whole, in some order.
    pieces = ["同频编辑部：", "突发新闻，台风“海葵”登陆。", "城市𠮷融媒中心"]
    await a.insert(0, pieces[0])
    await b.insert(0, pieces[1])
    p.insert(0, pieces[2])
    base, _ = await converged(everyone)
    assert base in {"".join(order) for order in itertools.permutations(pieces)}

    # 2. Two clients drop off, then all three edit the same base: overlapping deletes
    #    (one online, one offline) and an offline insert. The offline edits arrive on reconnect.
    await b.disconnect()
    await p.close()
    await b.wait("connected", False)
    await a.delete(2, 5)
    await b.delete(5, 6)
    p.insert(14, "【快讯】")
    await b.connect(hub.ws_base, f"{ROOM}/{DRAFT}")
    await p.connect()
    cut = set(range(2, 11))
    expected = without(base[:14], cut) + "【快讯】" + base[14:]
    text, _ = await converged(everyone)
    assert text == expected

    # 3. Now a and p are offline and b is online. Two inserts at the same place (the front) from
    #    different clients, overlapping deletes, an offline insert after a delete.
    await a.disconnect()
    await p.close()
    await a.wait("connected", False)
    await b.insert(len(text), "（B在线）")
    await a.delete(2, 3)
    await a.insert(0, "（A离线）")
    p.delete(3, 2)
    p.insert(0, "【P】")
    p.insert(8 + 3, "（P离线）")  # after its own front insert: between text[9] and text[10]
    await a.wait("text", "（A离线）" + text[:2] + text[5:])  # a alone has its edits so far
    await a.connect(hub.ws_base, f"{ROOM}/{DRAFT}")
    await p.connect()
    rest = text[:2] + text[5:10] + "（P离线）" + text[10:] + "（B在线）"
    text, _ = await converged(everyone)
    assert text in {"（A离线）【P】" + rest, "【P】（A离线）" + rest}

    # 4. A burst of single-character inserts from all three, while b reconnects in the middle of its own.
    async def b_drops_off(round_: int) -> None:
        if round_ == 4:
            await b.disconnect()
        if round_ == 8:
            await b.connect(hub.ws_base, f"{ROOM}/{DRAFT}")

    typed = await burst(everyone, None, random.Random(20260101), "甲乙丙", b_drops_off)
    final, sv = await converged(everyone)
    assert sorted(final) == sorted(text + "".join(typed))

    # Identical bytes and state vectors everywhere (converged compared the decoded vectors as maps).
    assert {len(sv)} == {3}, f"three writers, three entries: {sv}"
    texts = {(await c.text()).encode("utf-8") for c in (a, b)} | {p.content().encode("utf-8")}
    assert texts == {final.encode("utf-8")}

    # What the hub stored equals what the clients hold: read its SQLite file after it stopped.
    await p.close()
    await hub.sigterm()
    doc = await stored_doc(hub.sqlite_path, ROOM, DRAFT)
    assert doc_text(doc).encode("utf-8") == final.encode("utf-8")
    assert doc_state_vector(doc) == sv


async def test_several_messages_in_one_frame_in_and_one_message_per_frame_out(
    hub: HubProcess, node_clients: NodeFactory
) -> None:
    """A frame packing several messages is taken whole (lib0 allows it); the hub answers one message per frame."""
    node = await node_clients("older-client")
    await node.connect(hub.ws_base, f"{ROOM}/packed")
    await node.wait_synced()
    packed = await raw_socket(hub.ws_url(ROOM, "packed"))
    doc: Doc[Any] = Doc(client_id=77)
    doc.get("t", type=Text).insert(0, "合帧发送")
    caret = AwarenessEntry(77, 1, '{"user":{"name":"丁"}}')
    await packed.send(
        codec.sync_step1(doc.get_state())
        + codec.awareness_message(encode_awareness([caret]))
        + codec.sync_update(doc.get_update())
    )
    report = await node.wait("text", "合帧发送")
    report = await node.wait("awareness", [node.client_id, 77])
    assert report["awareness"]["77"] == {"user": {"name": "丁"}}

    seen: list[codec.Message] = []
    async with asyncio.timeout(10):
        while not any(m.type == codec.MessageType.SYNC and m.step == codec.SyncStep.STEP2 for m in seen):
            frame = await packed.recv()
            assert isinstance(frame, bytes)
            messages = list(codec.decode_messages(frame))
            assert len(messages) == 1, f"a frame of {len(messages)} messages: {frame.hex()}"
            seen += messages
    await packed.close()
    await node.wait("awareness", [node.client_id])  # and its caret left with it
