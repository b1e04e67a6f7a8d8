"""A client that dribbles or never finishes its request head is dropped."""

from __future__ import annotations

import asyncio
import time

from tests.conftest import HubFactory

HEAD_TIMEOUT = 1.0


async def test_unfinished_and_dribbled_heads_are_cut_off(hub_factory: HubFactory) -> None:
    hub = hub_factory("--head-timeout", str(HEAD_TIMEOUT))
    silent = await asyncio.open_connection("127.0.0.1", hub.port)
    dribbler = await asyncio.open_connection("127.0.0.1", hub.port)
    dribbler[1].write(b"GET /yjs/r/d HTTP/1.1\r\nHost: x\r\n")
    started = time.monotonic()

    async def dribble() -> None:
        # One header byte every 0.1 s: traffic that must not extend the deadline.
        while not dribbler[0].at_eof():
            dribbler[1].write(b"X")
            await dribbler[1].drain()
            await asyncio.sleep(0.1)

    task = asyncio.create_task(dribble())
    try:
        async with asyncio.timeout(HEAD_TIMEOUT * 10):
            assert await silent[0].read() == b""
            assert await dribbler[0].read() == b""
    finally:
        task.cancel()
        for _, writer in (silent, dribbler):
            writer.close()
    # Cut by the deadline, not by the dribble running out.
    assert time.monotonic() - started < HEAD_TIMEOUT * 10


async def test_a_prompt_request_is_served_and_kept_alive(hub_factory: HubFactory) -> None:
    hub = hub_factory("--head-timeout", str(HEAD_TIMEOUT))
    reader, writer = await asyncio.open_connection("127.0.0.1", hub.port)
    for _ in range(2):
        writer.write(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        async with asyncio.timeout(5):
            status = await reader.readline()
        assert status.startswith(b"HTTP/1.1 200"), status
        length = 0
        async with asyncio.timeout(5):
            while (line := await reader.readline()) not in (b"\r\n", b""):
                if line.lower().startswith(b"content-length:"):
                    length = int(line.split(b":", 1)[1])
            await reader.readexactly(length)
    writer.close()
    await writer.wait_closed()
