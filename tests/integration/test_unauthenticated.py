"""Bug class: memory exhaustion by unauthenticated sockets (authentication on, as deployed).

An upgrade without a valid token is answered with 401 before it becomes a
websocket (``hub/gate.py``), and the hub closes the connection: whatever the
client keeps sending is never buffered, and no websocket state is kept. A
request head that never ends is cut off at a bounded size.
"""

from __future__ import annotations

import asyncio
import contextlib
from pathlib import Path

import pytest

from tests.conftest import HubFactory, HubProcess

BATCH, ROUNDS = 50, 8  # 400 refused upgrades, 50 at a time
JUNK = 128 * 1024  # bytes each refused client pushes after its request


def rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise AssertionError("no VmRSS")


def upgrade_request(path: str) -> bytes:
    return (
        f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
        "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
    ).encode()


async def refused_then_junk(hub: HubProcess, path: str) -> bytes:
    """Ask for an upgrade, then push junk as if the socket were open; return the status line."""
    reader, writer = await asyncio.open_connection("127.0.0.1", hub.port)
    try:
        writer.write(upgrade_request(path))
        # A binary frame header announcing 1 MiB, then part of it: what a flood would start with.
        writer.write(b"\x82\xff" + (1 << 20).to_bytes(8, "big") + b"\x00" * 4 + b"\xa5" * JUNK)
        with contextlib.suppress(ConnectionError):
            await writer.drain()
        async with asyncio.timeout(10):
            head = await reader.readuntil(b"\r\n\r\n")
            with contextlib.suppress(ConnectionError):
                while await reader.read(65536):  # the hub ends the connection after the refusal
                    pass
        return head.split(b"\r\n", 1)[0]
    finally:
        writer.close()


@pytest.fixture
def authenticated_hub(hub_factory: HubFactory) -> HubProcess:
    # No refused-upgrade limit: these clients are refused on their merits (401) every time, not as an address
    # that keeps failing (429, tests/identity/test_refusal_limit.py).
    return hub_factory(env={"TONGPIN_AUTH": "required", "TONGPIN_UPGRADE_REFUSAL_LIMIT": "0"})


async def test_refused_upgrades_hold_nothing(authenticated_hub: HubProcess) -> None:
    hub = authenticated_hub
    paths = ["/yjs/r/d", "/yjs/r/d?token=not-a-token", "/yjs/r/d?token=eyJhbGciOiJIUzI1NiJ9.e30.c2lnbmF0dXJl"]
    await refused_then_junk(hub, paths[0])  # warm up the allocator before the baseline
    before = rss_kib(hub.pid)
    for round_ in range(ROUNDS):
        lines = await asyncio.gather(*(refused_then_junk(hub, paths[(round_ + i) % 3]) for i in range(BATCH)))
        assert set(lines) == {b"HTTP/1.1 401 Unauthorized"}
    grown = rss_kib(hub.pid) - before
    pushed = ROUNDS * BATCH * JUNK // 1024
    # Had the hub kept what the refused clients pushed, it would have grown by about `pushed` KiB.
    assert grown < pushed // 4, f"hub grew {grown} KiB while refused clients pushed {pushed} KiB"
    metrics = await hub.metrics()
    assert metrics["tongpin_connections_total"] == 0, "a refused upgrade became a websocket connection"
    assert metrics["tongpin_connections"] == 0


async def test_an_endless_request_head_is_cut_off(authenticated_hub: HubProcess) -> None:
    hub = authenticated_hub
    before = rss_kib(hub.pid)
    reader, writer = await asyncio.open_connection("127.0.0.1", hub.port)
    sent = 0
    limit = 16 * 1024 * 1024
    try:
        writer.write(b"GET /yjs/r/d HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Pad: ")
        with contextlib.suppress(ConnectionError):
            async with asyncio.timeout(20):
                while sent < limit:
                    writer.write(b"a" * 65536)
                    await writer.drain()
                    sent += 65536
        assert sent < limit, "the hub kept reading a request head of 16 MiB"
        async with asyncio.timeout(10):
            with contextlib.suppress(ConnectionError):
                while await reader.read(65536):
                    pass
    finally:
        writer.close()
    assert rss_kib(hub.pid) - before < 8 * 1024
