"""Slow consumers: a client that stops reading.

Its queue is bounded: past ``max_outbound`` it is closed with 4009 and loses
nothing, because it resubscribes from its last offset. Presence for it is
merged while it is behind, not queued: when it reads again it gets the
result, not every change.

The slow client is a real socket with a small receive buffer that the test
simply stops reading.
"""

from __future__ import annotations

import asyncio
import socket
from pathlib import Path
from typing import Any

import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed

from rooms.events import Publication
from tests.live.helpers import CLOSE_CODE, InProcessNode, LiveWS, hub_in_process
from tests.waiting import wait_until

pytestmark = pytest.mark.timeout(60)

MAX_OUTBOUND = 32 * 1024
PAD = "派" * 300  # ~900 bytes of UTF-8 per event


async def slow_client(node: InProcessNode, user: str) -> LiveWS:
    """A client whose kernel buffer is tiny and whose library buffers one message."""
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    sock.connect(("127.0.0.1", node.port))
    sock.setblocking(False)
    client = LiveWS(node.live_url(user))
    client.ws = await connect(client.url, sock=sock, max_queue=1, max_size=None, open_timeout=10)
    client.welcome = await client.recv()
    return client


def hub_side(node: InProcessNode, session: str) -> Any:
    return next(c for c in node.hub.live.clients if c.session_id == session)


async def publish(node: InProcessNode, n: int, start: int) -> None:
    publications = [Publication.of(["unit:humen"], "slow.event", {"seq": start + i, "pad": PAD}) for i in range(n)]
    await node.hub.live.publisher.publish_many(publications)


@pytest.mark.parametrize("raw_ws", [True, False], ids=["raw", "asgi-send"])
async def test_a_client_that_cannot_keep_up_is_closed_and_recovers_everything(tmp_path: Path, raw_ws: bool) -> None:
    async with hub_in_process(tmp_path, max_outbound=MAX_OUTBOUND, raw_ws=raw_ws) as node:
        slow = await slow_client(node, "humen-editor")
        sub = await slow.subscribe("unit:humen")
        server_side = hub_side(node, slow.welcome["session"])
        published = 0
        while server_side.socket.close_code is None:  # it stops reading: the hub's queue grows
            assert published < 20_000, "the hub never closed the slow client"
            await publish(node, 50, published)
            published += 50
        assert server_side.socket.close_code == 4009
        await publish(node, 50, published)  # more after the close: recovered below
        published += 50
        last = 0
        try:
            while True:  # what was queued before the close still arrives, in order
                frame = await slow.recv()
                assert frame["type"] == "event" and frame["offset"] == last + 1
                last = frame["offset"]
        except ConnectionClosed:
            pass
        assert slow.ws is not None and slow.ws.close_code == 4009
        CLOSE_CODE.validate(4009)
        assert 0 < last < published
        async with await node.client("humen-editor") as again:
            answer = await again.subscribe("unit:humen", since={"epoch": sub["epoch"], "offset": last})
            assert (answer["recovered"], answer["offset"], answer["missed"]) == (True, last, published - last)
            seqs = [(await again.expect("event"))["data"]["seq"] for _ in range(published - last)]
            assert seqs == list(range(last, published))
        metrics = await node.metrics()
        assert metrics["tongpin_live_behind_total"] == 1


async def test_presence_for_a_slow_client_is_merged_not_queued(tmp_path: Path) -> None:
    async with hub_in_process(tmp_path, max_outbound=4 * 1024 * 1024, live_presence_grace=0.2) as node:
        slow = await slow_client(node, "humen-editor")
        await slow.subscribe("unit:humen")
        await slow.subscribe("room:typhoon-drill")
        server_side = hub_side(node, slow.welcome["session"])
        published = 0
        while server_side.socket.buffered() <= server_side.socket.low_water:
            await publish(node, 20, published)
            published += 20
        fast = await node.client("changan-editor")
        await fast.subscribe("room:typhoon-drill")
        churn = 0
        for user in ("dgrtv-editor", "humen-reporter", "changan-reporter", "dgdaily-editor", "dgrelease-editor"):
            async with await node.client(user) as visitor:
                await visitor.subscribe("room:typhoon-drill")
                churn += 1
            await fast.expect("presence", mode="diff")  # saw the visitor come (and, later, go)
        await wait_until(lambda: len(node.hub.live.presence.users("room:typhoon-drill")) == 2, within=15)
        # Now the slow client reads: every event, in order, and presence that ends where the room is.
        users: dict[str, Any] = {}
        frames = 0
        events = 0
        async with asyncio.timeout(20):
            while events < published or set(users) != {"humen-editor", "changan-editor"}:
                frame = await slow.recv()
                if frame["type"] == "event":
                    assert frame["data"]["seq"] == events
                    events += 1
                elif frame["type"] == "presence":
                    frames += 1
                    if frame["mode"] == "snapshot":
                        users = dict(frame["users"])
                    else:
                        for user, view in frame["users"].items():
                            if view is None:
                                users.pop(user, None)
                            else:
                                users[user] = view
        assert frames <= 3, f"{churn * 2} changes reached a slow client as {frames} frames"
        await fast.close()
        await slow.close()
