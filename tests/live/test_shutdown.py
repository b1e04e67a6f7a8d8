"""SIGTERM with ``/live`` subscribers: every committed event first, then 1012; nothing refused is half-made.

A real ``tongpin serve`` process on SQLite. Events committed before the
signal reach the subscriber before its 1012, whether this node announced
them or only the store has them (a process whose broker does not reach this
node wrote them: no announcement, only the store); after a restart, resubscribing
with ``since`` finds nothing missed. While the node drains, ``/healthz``
answers 503 ``stopping``, a new connection is refused and an upgrade on a
connection opened before the signal gets 1012 without a ``welcome``.
"""

from __future__ import annotations

import asyncio
import json
import signal
import sqlite3
from pathlib import Path
from typing import Any

import pytest
from websockets.exceptions import ConnectionClosed

from rooms.events import Publication
from rooms.sqlite_events import SqliteEventStore
from schema.close_codes import CloseCode
from tests.live.helpers import HubProcess, LiveWS, mint
from tests.ypy_client import YClient

pytestmark = [pytest.mark.timeout(90), pytest.mark.slow]

CHANNEL = "unit:humen"
USER = "humen-editor"
ENV = {"TONGPIN_WORKERS": "none", "TONGPIN_SHUTDOWN_TIMEOUT": "20"}


async def rest_until_closed(client: LiveWS, within: float = 20.0) -> tuple[list[dict[str, Any]], int]:
    """Every frame up to the close, and the close code."""
    frames = []
    try:
        async with asyncio.timeout(within):
            while True:
                frames.append(await client.recv(within))
    except ConnectionClosed:
        pass
    assert client.ws is not None and client.ws.close_code is not None
    return frames, client.ws.close_code


async def commit_unannounced(path: Path, data: dict[str, Any]) -> None:
    """Commit one event the hub is never told of: only its store (and its poll) can find it."""
    store = SqliteEventStore(path)
    await store.open()
    try:
        await store.append([Publication.of([CHANNEL], "test.unannounced", data)])
    finally:
        await store.close()


async def test_sigterm_delivers_every_committed_event_before_1012(tmp_path: Path) -> None:
    hub = await asyncio.to_thread(HubProcess(tmp_path, ENV).start)
    try:
        client = await hub.client(USER)
        answer = await client.subscribe(CHANNEL)
        assert answer["type"] == "subscribed"
        epoch, start = answer["epoch"], answer["offset"]
        published = await hub.publish([{"channels": [CHANNEL], "type": "test.announced", "data": {"n": 1}}], "k1")
        assert (await client.expect("event"))["offset"] == start + 1 == published["events"][0]["offset"]
        # Committed just before the signal and announced nowhere: without a last look at the
        # store before the 1012, only the 2 s poll would find it, and the poll ends with the node.
        await hub.publish([{"channels": [CHANNEL], "type": "test.announced", "data": {"n": 2}}], "k2")
        await commit_unannounced(hub.sqlite_path, {"n": 3})
        assert await hub.sigterm() == 0

        frames, code = await rest_until_closed(client)
        assert code == CloseCode.SERVICE_RESTART
        events = [f for f in frames if f["type"] == "event"]
        assert [(e["offset"], e["data"]["n"]) for e in events] == [(start + 2, 2), (start + 3, 3)]
        assert "Traceback" not in hub.log()

        # Nothing was lost: back on the same store, resubscribing from the last offset finds nothing missed.
        await hub.restart(same_port=False)
        again = await hub.client(USER)
        resumed = await again.subscribe(CHANNEL, since={"epoch": epoch, "offset": start + 3})
        assert resumed["recovered"] is True and resumed.get("missed", 0) == 0, resumed
        await again.close()
    finally:
        hub.stop()


class KeepAlive:
    """One HTTP/1.1 connection, kept open across requests (a load balancer's, a prober's)."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None

    async def open(self) -> KeepAlive:
        self.reader, self.writer = await asyncio.open_connection("127.0.0.1", self.port)
        return self

    async def request(self, target: str, headers: str = "") -> tuple[int, dict[str, str]]:
        assert self.reader is not None and self.writer is not None
        self.writer.write(f"GET {target} HTTP/1.1\r\nHost: 127.0.0.1:{self.port}\r\n{headers}\r\n".encode())
        async with asyncio.timeout(10):
            head = (await self.reader.readuntil(b"\r\n\r\n")).decode("latin-1").split("\r\n")
        status = int(head[0].split()[1])
        fields = {k.strip().lower(): v.strip() for k, _, v in (line.partition(":") for line in head[1:] if line)}
        return status, fields

    async def get(self, path: str) -> tuple[int, dict[str, Any]]:
        assert self.reader is not None
        status, fields = await self.request(path)
        async with asyncio.timeout(10):
            body = await self.reader.readexactly(int(fields["content-length"]))
        return status, json.loads(body)

    async def upgrade(self, path: str) -> tuple[int, list[tuple[int, bytes]]]:
        """Upgrade this connection to a websocket; the status and every frame until the close."""
        assert self.reader is not None
        headers = (
            "Upgrade: websocket\r\nConnection: Upgrade\r\n"
            "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n"
        )
        status, _ = await self.request(path, headers)
        frames: list[tuple[int, bytes]] = []
        async with asyncio.timeout(10):
            while status == 101 and not (frames and frames[-1][0] == 8):
                first, second = await self.reader.readexactly(2)
                size = second & 0x7F
                if size >= 126:
                    size = int.from_bytes(await self.reader.readexactly(2 if size == 126 else 8), "big")
                frames.append((first & 0x0F, await self.reader.readexactly(size)))
        return status, frames

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()


async def test_while_draining_health_says_stopping_and_upgrades_are_refused(tmp_path: Path) -> None:
    hub = await asyncio.to_thread(HubProcess(tmp_path, ENV).start)
    lock: sqlite3.Connection | None = None
    probe = KeepAlive(hub.port)
    try:
        client = await hub.client(USER)
        assert (await client.subscribe(CHANNEL))["type"] == "subscribed"
        editor = YClient(f"ws://127.0.0.1:{hub.port}/yjs/typhoon-drill/drain?stored=1&token={mint(hub.data_dir, USER)}")
        await editor.connect()
        await editor.wait_synced()
        await probe.open()
        status, health = await probe.get("/healthz")
        assert (status, health["status"], health["stopping"]) == (200, "ok", False)

        # Hold the drain open: the store's write lock is the test's, so the last flush of the
        # journal (an edit is waiting in it) cannot finish until the test lets go.
        lock = sqlite3.connect(hub.sqlite_path, isolation_level=None, timeout=10)
        lock.execute("BEGIN IMMEDIATE")
        editor.insert(0, "停机前的最后一笔")
        assert hub.proc is not None
        hub.proc.send_signal(signal.SIGTERM)

        async with asyncio.timeout(15):
            while True:
                status, health = await probe.get("/healthz")
                if health["stopping"]:
                    break
                await asyncio.sleep(0.02)
        assert (status, health["status"]) == (503, "stopping")
        with pytest.raises(OSError):  # stopped accepting: a new connection finds no listener
            await asyncio.open_connection("127.0.0.1", hub.port)
        assert client.ws is not None and client.ws.close_code is None  # subscribers are still served

        # An upgrade on a connection that was open before the signal: 1012, and no welcome.
        status, frames = await probe.upgrade(f"/live?token={mint(hub.data_dir, USER)}")
        assert status == 101
        assert [op for op, _ in frames] == [8], frames
        assert int.from_bytes(frames[0][1][:2], "big") == CloseCode.SERVICE_RESTART

        lock.rollback()
        lock.close()
        lock = None
        _, code = await rest_until_closed(client)
        assert code == CloseCode.SERVICE_RESTART
        assert await editor.wait_closed() == CloseCode.SERVICE_RESTART
        assert await asyncio.to_thread(hub.wait_exit) == 0
        assert "Traceback" not in hub.log()
        assert editor.stored == len(editor.sent)  # the held edit was stored before its 1012
    finally:
        probe.close()
        if lock is not None:
            lock.close()
        hub.stop()
