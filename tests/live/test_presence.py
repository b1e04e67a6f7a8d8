"""Room presence (``rooms.presence``): grouping, grace, summaries, and nodes joined by a broker.

Nodes here are ``Presence`` objects joined by the in-process broker on one
``MemoryBus`` (the broker contract's own multi-node setup); the SIGKILL test
with real processes and Redis is ``test_kill.py``.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from typing import Any

import pytest

from rooms.memory_broker import MemoryBroker, MemoryBus
from rooms.presence import Entry, Presence, PresenceUpdate, merge_updates
from tests.waiting import wait_until

pytestmark = pytest.mark.timeout(30)

ROOM = "room:typhoon-drill"


class View:
    """A client's picture of a room, built from the frames it receives."""

    def __init__(self) -> None:
        self.users: dict[str, Any] = {}
        self.summary: dict[str, Any] | None = None
        self.frames: list[dict[str, Any]] = []
        self.left: list[str] = []  # users a diff said were gone

    def on_presence(self, channel: str, update: PresenceUpdate) -> None:
        body = update.body
        self.frames.append(body)
        if body["mode"] == "snapshot":
            self.users, self.summary = dict(body["users"]), None
        elif body["mode"] == "diff":
            for user, view in body["users"].items():
                if view is None:
                    self.users.pop(user, None)
                    self.left.append(user)
                else:
                    self.users[user] = view
        else:
            self.summary = body["summary"]

    def sessions(self, user: str) -> list[str]:
        return [s["id"] for s in self.users[user]["sessions"]] if user in self.users else []


def entry(session: str, user: str, unit: str = "humen", state: str = "active") -> Entry:
    return Entry(session, user, f"名{user}", unit, ("editor",), None, state)


class PNode:
    """One node's presence on a shared bus; ``lose`` drops its next messages in transit."""

    def __init__(self, node_id: str, bus: MemoryBus, **kw: Any) -> None:
        self.broker = MemoryBroker(node_id, bus)
        self.lose = 0
        self.presence = Presence(node_id, publish=self._publish, **kw)
        self.beats: asyncio.Task[None] | None = None

    def _publish(self, data: bytes) -> None:
        if self.lose:
            self.lose -= 1
            return
        self.broker.publish("live.presence", data)

    async def start(self) -> PNode:
        await self.broker.open(self)
        await self.broker.subscribe("live.presence")
        self.presence.hello()
        self.beats = asyncio.get_running_loop().create_task(self.presence.run())
        return self

    def die(self) -> None:
        """As SIGKILL: no goodbye; it just falls silent."""
        assert self.beats is not None
        self.beats.cancel()
        self.presence.close()
        self.broker.interrupt()

    def on_message(self, channel: str, sender: str, data: bytes) -> None:
        self.presence.on_message(sender, data)

    def on_down(self) -> None:
        pass

    def on_up(self) -> None:
        self.presence.hello()

    async def stop(self) -> None:
        if self.beats is not None:
            self.beats.cancel()
        self.presence.close()
        await self.broker.close()


async def test_snapshot_then_diffs_grouped_by_user() -> None:
    p = Presence("n1", grace=0)
    alice = View()
    p.join(ROOM, entry("n1.1", "alice"), alice)
    assert alice.frames[0]["mode"] == "snapshot" and list(alice.users) == ["alice"]
    p.join(ROOM, entry("n1.2", "alice", state="idle"), View())  # a second tab
    p.join(ROOM, entry("n1.3", "bob", unit="changan"), View())
    await wait_until(lambda: "bob" in alice.users and len(alice.sessions("alice")) == 2)
    assert alice.users["alice"]["state"] == "active"  # active in one tab is active
    assert alice.users["bob"]["unit"] == "changan"
    p.update(ROOM, "n1.1", "draft-7", "idle")
    await wait_until(lambda: alice.users["alice"]["state"] == "idle")
    assert {s["draft"] for s in alice.users["alice"]["sessions"]} == {"draft-7", None}
    assert alice.frames[-1]["count"] == {"users": 2, "sessions": 3}
    p.leave(ROOM, "n1.3", grace=False)  # an unsubscribe: at once
    await wait_until(lambda: "bob" not in alice.users)
    assert alice.left == ["bob"]
    p.close()


async def test_a_reload_within_the_grace_does_not_flap() -> None:
    p = Presence("n1", grace=0.3)
    watcher = View()
    p.join(ROOM, entry("n1.1", "watcher"), watcher)
    p.join(ROOM, entry("n1.2", "alice"), View())
    p.join(ROOM, entry("n1.3", "bob"), View())
    await wait_until(lambda: {"alice", "bob"} <= set(watcher.users))
    p.leave(ROOM, "n1.2", grace=True)  # alice's tab reloads...
    p.leave(ROOM, "n1.3", grace=True)  # ...bob's laptop goes to sleep
    p.join(ROOM, entry("n1.4", "alice"), View())  # alice is back at once
    await wait_until(lambda: "bob" not in watcher.users, within=5)
    assert watcher.left == ["bob"], "alice never left; bob left only after the grace"
    assert watcher.sessions("alice") == ["n1.4"]
    p.close()


async def test_large_rooms_get_summaries_then_a_snapshot_when_small_again() -> None:
    p = Presence("n1", grace=0, detail_limit=3, summary_interval=0.05)
    watcher = View()
    p.join(ROOM, entry("n1.0", "watcher"), watcher)
    for i in range(1, 6):
        p.join(ROOM, entry(f"n1.{i}", f"u{i}", unit="humen" if i % 2 else "changan", state="idle"), View())
    await wait_until(lambda: watcher.summary is not None and watcher.summary["users"] == 6)
    assert watcher.summary == {"users": 6, "sessions": 6, "active": 1, "idle": 5, "units": {"humen": 4, "changan": 2}}
    late = View()
    p.join(ROOM, entry("n1.9", "late"), late)
    assert late.frames[0]["mode"] == "summary", "a joiner of a large room gets the summary"
    summaries_before = sum(f["mode"] == "summary" for f in watcher.frames)
    for i in range(1, 6):
        p.leave(ROOM, f"n1.{i}", grace=False)
    await wait_until(lambda: watcher.frames[-1]["mode"] == "snapshot")
    assert set(watcher.users) == {"watcher", "late"}
    assert sum(f["mode"] == "summary" for f in watcher.frames) - summaries_before <= 3, "summaries are rate-limited"
    p.close()


@contextlib.asynccontextmanager
async def two_nodes(node_timeout: float) -> AsyncIterator[tuple[PNode, PNode]]:
    """Nodes ``a`` and ``b`` on one in-process bus, without grace; stopped at the end."""
    bus = MemoryBus()
    a = await PNode("a", bus, grace=0, node_timeout=node_timeout).start()
    b = await PNode("b", bus, grace=0, node_timeout=node_timeout).start()
    try:
        yield a, b
    finally:
        await a.stop()
        await b.stop()


async def test_presence_across_nodes_and_a_dead_node_clears() -> None:
    async with two_nodes(node_timeout=0.5) as (a, b):
        watcher = View()
        a.presence.join(ROOM, entry("a.1", "alice"), watcher)
        b.presence.join(ROOM, entry("b.1", "bob"), View())
        b.presence.join(ROOM, entry("b.2", "alice", state="idle"), View())  # alice's second tab, on b
        await wait_until(lambda: "bob" in watcher.users and len(watcher.sessions("alice")) == 2)
        late = View()  # b's state reaches a node's newcomers too
        a.presence.join(ROOM, entry("a.2", "carol"), late)
        assert set(late.users) == {"alice", "bob", "carol"}
        b.die()
        await wait_until(lambda: "bob" not in watcher.users, within=5)
        assert watcher.sessions("alice") == ["a.1"] and "alice" not in watcher.left


async def test_a_lost_message_is_noticed_and_repaired() -> None:
    async with two_nodes(node_timeout=5) as (a, b):
        watcher = View()
        a.presence.join(ROOM, entry("a.1", "alice"), watcher)
        b.presence.join(ROOM, entry("b.1", "bob"), View())
        await wait_until(lambda: "bob" in watcher.users)
        b.lose = 1
        b.presence.join(ROOM, entry("b.2", "dave"), View())  # lost in transit
        b.presence.update(ROOM, "b.1", "d2", "idle")  # arrives, one number too far
        await wait_until(lambda: "dave" in watcher.users, within=5)
        assert watcher.users["bob"]["state"] == "idle"


def test_merging_keeps_the_result_of_every_update() -> None:
    def diff(**users: Any) -> PresenceUpdate:
        return PresenceUpdate(
            {"type": "presence", "channel": ROOM, "mode": "diff", "users": users, "count": {"users": 0, "sessions": 0}}
        )

    snapshot = PresenceUpdate(
        {
            "type": "presence",
            "channel": ROOM,
            "mode": "snapshot",
            "users": {"a": {"v": 1}, "b": {"v": 1}},
            "count": {"users": 2, "sessions": 2},
        }
    )
    merged = merge_updates(merge_updates(snapshot, diff(a=None, c={"v": 1})), diff(b={"v": 2}))
    assert merged.mode == "snapshot" and merged.body["users"] == {"b": {"v": 2}, "c": {"v": 1}}
    two = merge_updates(diff(a={"v": 1}, b=None), diff(a=None))
    assert two.mode == "diff" and two.body["users"] == {"a": None, "b": None}
    summary = PresenceUpdate({"type": "presence", "channel": ROOM, "mode": "summary", "summary": {}})
    assert merge_updates(two, summary) is summary and merge_updates(summary, snapshot) is snapshot
