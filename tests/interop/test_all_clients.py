"""Every client family co-edits one draft over real sockets and converges.

y-websocket 3 (yjs 13) and @y/websocket 4 (Yjs 14) on ``/yjs``, pycrdt on
``/yjs``, and @hocuspocus/provider 4 on ``/hocuspocus``, all on one draft:
concurrent Chinese inserts (with 𠮷, outside the Basic Multilingual Plane),
overlapping deletes, edits made offline, disconnects and reconnects in the
middle of a burst, carets. In the end every client holds the same bytes and
the same state vector, and so does what the hub stored. The y-websocket
clients also report that every frame they sent held one message
(docs/CLIENTS.md), and both take the hub's opt-in ``stored`` signal.
"""

from __future__ import annotations

import itertools
import random
from typing import Any

import pytest

from tests.conftest import HubProcess, NodeFactory
from tests.hocuspocus.hpclient import HocusClient
from tests.integration.helpers import (
    burst,
    converged,
    delete,
    doc_state_vector,
    doc_text,
    insert,
    snapshot,
    stored_doc,
)
from tests.interop.conftest import HocusFactory
from tests.interop.families import Member, require_v4
from tests.ypy_client import YClient

pytestmark = pytest.mark.node

ROOM, DRAFT = "dgdaily", "typhoon-all-clients"
DOC = f"{ROOM}/{DRAFT}"


def without(text: str, deleted: set[int]) -> str:
    return "".join(c for i, c in enumerate(text) if i not in deleted)


async def go_offline(hocus: HocusClient) -> None:
    await hocus.call("disconnect")
    await hocus.wait_doc("status", DOC, "disconnected")


async def sees_every_caret(member: Member, ids: list[int]) -> None:
    if isinstance(member, YClient):
        others = set(ids) - {member.client_id}  # it is not sent its own
        await member.wait_for(lambda: others <= member.present(), f"the carets of {sorted(others)}")
    elif isinstance(member, HocusClient):
        await member.wait_doc("awareness", DOC, ids)
    else:
        await member.wait("awareness", ids)


async def everyone_sees_every_caret(members: list[Member], ids: list[int]) -> None:
    for member in members:
        await sees_every_caret(member, ids)


async def test_every_client_family_converges_on_one_draft(
    hub: HubProcess, node_clients: NodeFactory, hocus_clients: HocusFactory
) -> None:
    require_v4()
    v3 = await node_clients("y-websocket-3")
    v4 = await node_clients("y-websocket-4", "v4")
    py = YClient(hub.ws_url(ROOM, DRAFT))
    hp = await hocus_clients("hocuspocus-4")
    for node in (v3, v4):
        await node.connect(hub.ws_base, DOC, stored="1")
    await py.connect()
    await hp.socket(f"ws://127.0.0.1:{hub.port}/hocuspocus")
    await hp.open(DOC, "any token: this hub runs with authentication off")
    for node in (v3, v4):
        await node.wait_synced()
    await py.wait_synced()
    await hp.wait_doc("synced", DOC)
    everyone: list[Member] = [v3, v4, py, hp]
    hp_id = int((await hp.doc(DOC))["clientID"])
    ids = [v3.client_id, v4.client_id, py.client_id, hp_id]

    # 1. Concurrent inserts at the same place: each lands whole, in some order.
    pieces = ["同频编辑部：", "突发新闻，台风“海葵”登陆。", "城市𠮷融媒中心", "记者连线：珠江口"]
    for member, piece in zip(everyone, pieces, strict=True):
        await insert(member, DOC, 0, piece)
    base, _ = await converged(everyone, DOC)
    assert base in {"".join(order) for order in itertools.permutations(pieces)}

    # 2. Carets across families: each sees all the others'.
    names = ["甲编辑", "乙记者", "丙值班", "丁主任"]
    await v3.set_awareness({"user": {"name": names[0]}})
    await v4.set_awareness({"user": {"name": names[1]}})
    await py.set_awareness({"user": {"name": names[2]}})
    await hp.awareness(DOC, {"user": {"name": names[3]}})
    await everyone_sees_every_caret(everyone, ids)
    report: dict[str, Any] = await v4.report()
    assert [report["awareness"][str(i)]["user"]["name"] for i in ids] == names
    assert (await hp.doc(DOC))["awareness"][str(v4.client_id)] == {"user": {"name": "乙记者"}}

    # 3. Three drop off. Overlapping deletes (v3 online, v4 offline), offline inserts
    #    (pycrdt, Hocuspocus). The offline edits arrive on reconnect.
    await v4.disconnect()
    await py.close()
    await go_offline(hp)
    await v4.wait("connected", False)
    await delete(v3, DOC, 2, 5)
    await delete(v4, DOC, 5, 6)
    await insert(py, DOC, 14, "【快讯】")
    await insert(hp, DOC, 20, "（现场）")
    await v4.connect(hub.ws_base, DOC, stored="1")
    await py.connect()
    await hp.call("connect")
    expected = without(base[:14], set(range(2, 11))) + "【快讯】" + base[14:20] + "（现场）" + base[20:]
    text, _ = await converged(everyone, DOC)
    assert text == expected

    # Carets after the reconnects. y-protocols takes a state only at a newer clock
    # than the one it holds, so a caret shows again once it moves (or at its 15 s
    # renewal); a reconnected provider dropped the others' carets and sees them
    # when they move. A connection that closed without removing its own caret
    # (pycrdt, the Hocuspocus socket) had it removed by the hub at its own clock,
    # so its next state is new to everyone.
    await v3.set_awareness({"user": {"name": names[0], "caret": 1}})
    await v4.set_awareness({"user": {"name": names[1], "caret": 3}})
    await py.set_awareness({"user": {"name": names[2], "caret": 9}})
    await hp.awareness(DOC, {"user": {"name": names[3], "caret": 19}})
    await everyone_sees_every_caret(everyone, ids)

    # 4. Both y-websocket clients offline insert at the front, one also deletes;
    #    the Hocuspocus provider appends online.
    await v3.disconnect()
    await v4.disconnect()
    for node in (v3, v4):
        await node.wait("connected", False)
    await insert(v3, DOC, 0, "（三离线）")
    await delete(v4, DOC, 2, 3)
    await insert(v4, DOC, 0, "（四离线）")
    await insert(hp, DOC, len(text), "（H在线）")
    for node in (v3, v4):
        await node.connect(hub.ws_base, DOC, stored="1")
    rest = text[:2] + text[5:] + "（H在线）"
    text, _ = await converged(everyone, DOC)
    assert text in {"（三离线）（四离线）" + rest, "（四离线）（三离线）" + rest}

    # 5. A burst of single characters from all four at random places; v4, pycrdt and
    #    the Hocuspocus provider each drop off and come back in the middle of it.
    async def comings_and_goings(round_: int) -> None:
        if round_ == 2:
            await go_offline(hp)
        if round_ == 3:
            await v4.disconnect()
        if round_ == 5:
            await py.close()
        if round_ == 6:
            await hp.call("connect")
        if round_ == 7:
            await v4.connect(hub.ws_base, DOC, stored="1")
        if round_ == 9:
            await py.connect()

    typed = await burst(everyone, DOC, random.Random(20261126), "甲乙丙丁", comings_and_goings)
    final, sv = await converged(everyone, DOC)
    assert sorted(final) == sorted(text + "".join(typed))

    # Identical bytes and state vectors everywhere; one entry per writer.
    assert len(sv) == 4, f"four writers, four entries: {sv}"
    assert {(await snapshot(m, DOC))[0].encode("utf-8") for m in everyone} == {final.encode("utf-8")}

    # The y-websocket clients sent one message per frame, over several connections
    # each, and heard (opt-in ``stored``) that what they sent last is durable.
    for node in (v3, v4):
        report = await node.report()
        assert report["connections"] >= 2, report["connections"]
        assert report["framesSent"] > 20 and report["packedFrames"] == 0, report
        await node.wait("stored", len(report["sent"]))
    assert (await hp.report())["connections"] >= 3

    # What the hub stored equals what the clients hold: read its SQLite file after it stopped.
    await py.close()
    await hub.sigterm()
    doc = await stored_doc(hub.sqlite_path, ROOM, DRAFT)
    assert doc_text(doc).encode("utf-8") == final.encode("utf-8")
    assert doc_state_vector(doc) == sv
