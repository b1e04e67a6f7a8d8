"""Helpers for the hub integration tests: the stored draft, edits and convergence in any client family, raw sockets.

The families: ``YClient`` (pycrdt), ``NodeClient`` (npm y-websocket, one
document) and its subclass ``HocusClient`` (@hocuspocus/provider, several
documents on one socket: calls name the document ``doc``).
"""

from __future__ import annotations

import asyncio
import base64
import os
import random
from collections.abc import Awaitable, Callable, Sequence
from pathlib import Path
from typing import Any

from pycrdt import Doc, Text
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

from rooms.registry import build_doc
from rooms.sqlite_store import SqliteStore
from rooms.store import DraftKey
from tests.integration.node_client import NodeClient
from tests.ypy_client import YClient, decode_state_vector


async def stored_doc(sqlite_path: Path, room: str, draft: str) -> Doc[Any]:
    """The draft as the hub's SQLite file holds it (snapshot plus log), read through the Store."""
    assert await asyncio.to_thread(sqlite_path.exists), f"no store at {sqlite_path}"
    store = SqliteStore(sqlite_path, migrate=False)
    await store.open()
    try:
        return build_doc(await store.load(DraftKey(room, draft)))
    finally:
        await store.close()


async def stored_keys(sqlite_path: Path) -> set[tuple[str, str]]:
    """Every (room, draft) with a logged update or a snapshot."""
    import sqlite3

    def read() -> set[tuple[str, str]]:
        db = sqlite3.connect(f"file:{sqlite_path}?mode=ro", uri=True)
        try:
            rows = db.execute("SELECT room, draft FROM doc_updates UNION SELECT room, draft FROM doc_snapshots")
            return {(str(r[0]), str(r[1])) for r in rows}
        finally:
            db.close()

    return await asyncio.to_thread(read)


def doc_text(doc: Doc[Any], name: str = "t") -> str:
    return str(doc.get(name, type=Text))


def doc_state_vector(doc: Doc[Any]) -> dict[int, int]:
    return decode_state_vector(doc.get_state())


Client = YClient | NodeClient  # a HocusClient is a NodeClient


async def snapshot(client: Client, doc: str | None = None) -> tuple[str, dict[int, int]]:
    """A client's text and decoded state vector of ``doc``, right now."""
    if isinstance(client, YClient):
        return client.content(), client.state_vector()
    report = await client.document(doc)
    return str(report["text"]), decode_state_vector(base64.b64decode(report["stateVector"]))


async def insert(client: Client, doc: str | None, index: int, text: str) -> None:
    """Insert ``text`` at code point ``index`` of ``doc``."""
    if isinstance(client, YClient):
        client.insert(index, text)
    else:
        await client.insert_into(doc, index, text)


async def delete(client: Client, doc: str | None, index: int, length: int) -> None:
    if isinstance(client, YClient):
        client.delete(index, length)
    else:
        await client.delete_from(doc, index, length)


async def insert_anywhere(client: Client, doc: str | None, rng: random.Random, text: str) -> None:
    """Insert ``text`` at a random place of ``doc`` as the client holds it now."""
    current, _ = await snapshot(client, doc)
    await insert(client, doc, rng.randrange(len(current) + 1), text)


async def burst(
    clients: Sequence[Client],
    doc: str | None,
    rng: random.Random,
    letters: str,
    between: Callable[[int], Awaitable[None]],
    rounds: int = 12,
) -> list[str]:
    """Rounds of one character from each client (``letters[i]`` from client i, every fourth round 𠮷,
    outside the BMP) at random places; ``between(round)`` after each round. The characters typed."""
    typed: list[str] = []
    for round_ in range(rounds):
        for who, client in enumerate(clients):
            char = letters[who] if round_ % 4 else "𠮷"
            typed.append(char)
            await insert_anywhere(client, doc, rng, char)
        await between(round_)
    return typed


async def converged(
    clients: Sequence[Client], doc: str | None = None, within: float = 15.0
) -> tuple[str, dict[int, int]]:
    """Wait until every client holds the same text and state vector; return them.

    Equal state vectors mean each holds every update any of them made, so
    equal texts are then the CRDT's single answer, not a coincidence.
    """
    states: list[tuple[str, dict[int, int]]] = []
    try:
        async with asyncio.timeout(within):
            while True:
                states = [await snapshot(c, doc) for c in clients]
                if all(s == states[0] for s in states[1:]):
                    return states[0]
                await asyncio.sleep(0.02)
    except TimeoutError:
        detail = "\n".join(f"  {c!r}: text={s[0]!r} sv={s[1]}" for c, s in zip(clients, states, strict=False))
        raise AssertionError(f"clients did not converge within {within}s:\n{detail}") from None


async def close_of(ws: ClientConnection, within: float = 10.0) -> tuple[int | None, str]:
    """Read (and drop) whatever the hub sends until it closes; the close code and reason."""
    try:
        async with asyncio.timeout(within):
            async for _ in ws:
                pass
    except ConnectionClosed:
        pass
    except TimeoutError:
        raise AssertionError(f"the hub did not close the connection within {within}s") from None
    return ws.close_code, ws.close_reason or ""


async def raw_socket(url: str, **kw: Any) -> ClientConnection:
    """A bare websocket, for sending what no real client would."""
    return await connect(url, max_size=None, open_timeout=10, **kw)


async def upgrade_raw(port: int, path: bytes, within: float = 5.0) -> tuple[int, int | None, str]:
    """Send a hand-written upgrade request for ``path`` (bytes exactly as given).

    Returns the HTTP status, and for an accepted upgrade the close code and
    reason of the first close frame the hub sends (server frames are unmasked).
    """
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    status = 0
    try:
        async with asyncio.timeout(within):
            key = base64.b64encode(os.urandom(16))
            writer.write(
                b"GET " + path + b" HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                b"Sec-WebSocket-Key: " + key + b"\r\nSec-WebSocket-Version: 13\r\n\r\n"
            )
            await writer.drain()
            head = await reader.readuntil(b"\r\n\r\n")
            status = int(head.split()[1])
            if status != 101:
                return status, None, ""
            while True:
                first, second = await reader.readexactly(2)
                n = second & 0x7F
                if n == 126:
                    n = int.from_bytes(await reader.readexactly(2), "big")
                elif n == 127:
                    n = int.from_bytes(await reader.readexactly(8), "big")
                payload = await reader.readexactly(n)
                if first & 0x0F == 0x8:
                    return status, int.from_bytes(payload[:2], "big"), payload[2:].decode("utf-8", "replace")
    except TimeoutError:
        return status, None, f"not closed within {within}s"
    finally:
        writer.close()
