"""``hocus_clients``: @hocuspocus/provider processes (``tests/js/hpclient.mjs``) for the interop tests."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable

import pytest_asyncio

from tests.hocuspocus.hpclient import HocusClient
from tests.interop.families import HOCUS_PACKAGES, require

HocusFactory = Callable[..., Awaitable[HocusClient]]


@pytest_asyncio.fixture
async def hocus_clients(node_binary: str) -> AsyncIterator[HocusFactory]:
    """``await hocus_clients(name)`` starts one @hocuspocus/provider 4 process; all end at teardown."""
    require(HOCUS_PACKAGES)
    started: list[HocusClient] = []

    async def start(name: str = "hocuspocus") -> HocusClient:
        client = await HocusClient.start_driver(node_binary, f"{name}#{len(started)}")
        started.append(client)
        return client

    yield start
    for client in started:
        await client.close()
