"""Presence across two real hub processes (PostgreSQL + Redis), and one of them SIGKILLed.

The killed node says no goodbye and closes nothing. Its users must be gone
from the other node's presence within the documented bound
(``TONGPIN_LIVE_NODE_TIMEOUT`` plus one heartbeat), while users and sessions
on the live node stay, with no flap.
"""

from __future__ import annotations

import asyncio
import random
from pathlib import Path
from typing import Any

import pytest

from tests.cluster.services import REDIS_URL, check_redis, postgres_schema, with_db
from tests.live.helpers import HubProcess, LiveWS

pytestmark = [pytest.mark.timeout(90), pytest.mark.slow]

ROOM = "room:typhoon-drill"


class Watcher:
    """Follows one room's presence on one socket."""

    def __init__(self, client: LiveWS) -> None:
        self.client = client
        self.users: dict[str, Any] = {}
        self.left: list[str] = []

    async def until(self, check: Any, within: float = 15.0) -> None:
        async with asyncio.timeout(within):
            while not check():
                frame = await self.client.recv(within)
                if frame["type"] != "presence":
                    continue
                assert frame["mode"] != "summary"
                if frame["mode"] == "snapshot":
                    self.users = dict(frame["users"])
                    continue
                for user, view in frame["users"].items():
                    if view is None:
                        self.users.pop(user, None)
                        self.left.append(user)
                    else:
                        self.users[user] = view

    def sessions(self, user: str) -> int:
        return len(self.users[user]["sessions"]) if user in self.users else 0


async def test_presence_is_right_after_a_node_is_killed(tmp_path: Path) -> None:
    await check_redis()
    async with postgres_schema() as database:
        env = {
            "TONGPIN_DATABASE_URL": database,
            "TONGPIN_REDIS_URL": with_db(REDIS_URL, random.randint(2, 15)),
            "TONGPIN_LIVE_NODE_TIMEOUT": "1.0",
            "TONGPIN_LIVE_PRESENCE_GRACE": "0.5",
        }
        # Development mode on a shared data directory: one generated secret, the demo people seeded.
        a = await asyncio.to_thread(HubProcess(tmp_path, env).start)
        b = await asyncio.to_thread(HubProcess(tmp_path, env).start)
        clients: list[LiveWS] = []
        try:

            async def join(node: HubProcess, user: str) -> LiveWS:
                client = await node.client(user)
                clients.append(client)
                assert (await client.subscribe(ROOM))["type"] == "subscribed"
                return client

            watcher = Watcher(await join(a, "humen-editor"))
            await join(b, "changan-editor")
            await join(b, "dgrtv-editor")
            await join(b, "humen-editor")  # the watcher's own second tab, on the other node
            await watcher.until(
                lambda: (
                    {"changan-editor", "dgrtv-editor"} <= set(watcher.users) and watcher.sessions("humen-editor") == 2
                )
            )

            await asyncio.to_thread(b.kill)
            alone = {"humen-editor"}
            await watcher.until(lambda: set(watcher.users) == alone and watcher.sessions("humen-editor") == 1)
            assert "humen-editor" not in watcher.left, "the watcher's user never left"
            # Someone joining now sees exactly who is there.
            newcomer = Watcher(await join(a, "dgdaily-editor"))
            await newcomer.until(lambda: "dgdaily-editor" in newcomer.users)
            assert set(newcomer.users) == {"humen-editor", "dgdaily-editor"}
            # The killed node's users come back through the live one.
            await join(a, "changan-editor")
            await watcher.until(lambda: "changan-editor" in watcher.users)
        finally:
            for client in clients:
                await client.close()
            await asyncio.to_thread(a.stop)
            await asyncio.to_thread(b.stop)
