"""Who is in a planning room: per connection, grouped by user, across nodes.

Each live connection subscribed to ``room:{id}`` with presence is one
*session* entry: user, name, unit, roles, current draft, active or idle.
Clients see users, each with their sessions (two tabs: one person, two
sessions). A joining client gets a ``snapshot``, then ``diff`` frames that
carry the new view of each changed user (``null``: the user left).

- **Grace.** A connection that drops stays listed for ``grace`` seconds, so
  a reload or a flaky network does not flap the user out and back in. An
  explicit unsubscribe leaves at once.
- **Large rooms.** Past ``detail_limit`` users, clients get a ``summary``
  (counts of users and sessions, active and idle, per unit) at most every
  ``summary_interval`` seconds instead of every join and leave; below it
  again, a fresh ``snapshot``.
- **Batching.** Changes are sent ``FLUSH_DELAY`` after the first one, so a
  burst of joins costs one frame per room, encoded once for every listener.
- **Across nodes.** Each node owns its own sessions and tells the others on
  the broker (``set``/``del``, numbered); it sends a ``beat`` every
  ``node_timeout / 5`` seconds. A node that misses a number asks the sender
  for its ``full`` state. A node not heard for ``node_timeout`` seconds is
  dead and its entries are dropped: they are gone from every other node
  within ``node_timeout`` plus one beat (6 s by default), with no grace,
  because its users have had that long to reconnect elsewhere.

Presence is not stored: it is what the nodes that are alive hold now.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any, Protocol

import orjson

from rooms.codec import ws_text_frame

__all__ = ["FLUSH_DELAY", "Entry", "Presence", "PresenceListener", "PresenceUpdate", "merge_updates"]

log = logging.getLogger("tongpin.presence")

FLUSH_DELAY = 0.02


@dataclass(slots=True)
class Entry:
    """One session in one room."""

    session: str  # "{node}.{n}": unique in the cluster
    user: str
    name: str
    unit: str
    roles: tuple[str, ...]
    draft: str | None
    state: str  # "active" or "idle"

    def wire(self) -> list[Any]:
        return [self.session, self.user, self.name, self.unit, list(self.roles), self.draft, self.state]

    @classmethod
    def from_wire(cls, item: list[Any]) -> Entry:
        session, user, name, unit, roles, draft, state = item
        return cls(str(session), str(user), str(name), str(unit), tuple(map(str, roles)), draft, str(state))


class PresenceUpdate:
    """One presence frame for a room's listeners: its body, framed once."""

    __slots__ = ("_frame", "body")

    def __init__(self, body: dict[str, Any]) -> None:
        self.body = body
        self._frame: bytes | None = None

    @property
    def mode(self) -> str:
        return str(self.body["mode"])

    def frame(self) -> bytes:
        if self._frame is None:
            self._frame = ws_text_frame(orjson.dumps(self.body))
        return self._frame


def merge_updates(older: PresenceUpdate, newer: PresenceUpdate) -> PresenceUpdate:
    """One update that leaves a client where ``older`` then ``newer`` would.

    For a client too slow to take every frame: presence is state, not a
    stream of events, so only the result matters.
    """
    if newer.mode != "diff" or older.mode == "summary":
        return newer
    users = dict(older.body["users"])
    if older.mode == "snapshot":
        for user, view in newer.body["users"].items():
            if view is None:
                users.pop(user, None)
            else:
                users[user] = view
    else:
        users.update(newer.body["users"])
    return PresenceUpdate({**newer.body, "mode": older.mode, "users": users})


class PresenceListener(Protocol):
    def on_presence(self, channel: str, update: PresenceUpdate) -> None:
        """Send (or merge) a presence frame. Must not block or raise."""


class _Room:
    __slots__ = ("channel", "dirty", "entries", "listeners", "summary", "summary_at", "users")

    def __init__(self, channel: str) -> None:
        self.channel = channel
        self.entries: dict[str, Entry] = {}
        self.users: dict[str, set[str]] = {}  # user -> session ids
        self.listeners: dict[str, PresenceListener] = {}  # local session id -> its connection
        self.dirty: set[str] = set()  # users changed since the last flush
        self.summary = False  # clients are getting summaries
        self.summary_at = 0.0

    def put(self, entry: Entry) -> None:
        old = self.entries.get(entry.session)
        if old is not None and old.user != entry.user:
            self.remove(entry.session)
        self.entries[entry.session] = entry
        self.users.setdefault(entry.user, set()).add(entry.session)
        self.dirty.add(entry.user)

    def remove(self, session: str) -> None:
        entry = self.entries.pop(session, None)
        if entry is None:
            return
        sessions = self.users[entry.user]
        sessions.discard(session)
        if not sessions:
            del self.users[entry.user]
        self.dirty.add(entry.user)

    def user_view(self, user: str) -> dict[str, Any] | None:
        ids = self.users.get(user)
        if not ids:
            return None
        sessions = sorted((self.entries[i] for i in ids), key=lambda e: e.session)
        first = sessions[0]
        return {
            "name": first.name,
            "unit": first.unit,
            "roles": list(first.roles),
            "state": "active" if any(e.state == "active" for e in sessions) else "idle",
            "sessions": [{"id": e.session, "draft": e.draft, "state": e.state} for e in sessions],
        }

    def count(self) -> dict[str, int]:
        return {"users": len(self.users), "sessions": len(self.entries)}

    def snapshot(self) -> dict[str, Any]:
        users = {u: self.user_view(u) for u in sorted(self.users)}
        return {"type": "presence", "channel": self.channel, "mode": "snapshot", "users": users, "count": self.count()}

    def summary_body(self) -> dict[str, Any]:
        units: dict[str, int] = {}
        active = 0
        for user in self.users:
            view = self.user_view(user)
            assert view is not None
            units[view["unit"]] = units.get(view["unit"], 0) + 1
            active += view["state"] == "active"
        summary = {**self.count(), "active": active, "idle": len(self.users) - active, "units": units}
        return {"type": "presence", "channel": self.channel, "mode": "summary", "summary": summary}


class _Node:
    __slots__ = ("heard", "keys", "seq")

    def __init__(self, heard: float) -> None:
        self.heard = heard
        self.seq = -1  # unknown: the first message asks for a full state
        self.keys: set[tuple[str, str]] = set()  # (channel, session)


class Presence:
    def __init__(
        self,
        node_id: str,
        *,
        publish: Callable[[bytes], None] | None = None,
        grace: float = 5.0,
        node_timeout: float = 5.0,
        detail_limit: int = 100,
        summary_interval: float = 1.0,
    ) -> None:
        self.node_id = node_id
        self.publish = publish  # to the other nodes (broker); None: single node
        self.grace = grace
        self.node_timeout = node_timeout
        self.beat_interval = max(0.05, node_timeout / 5)
        self.detail_limit = detail_limit
        self.summary_interval = summary_interval
        self.rooms: dict[str, _Room] = {}
        self.nodes: dict[str, _Node] = {}
        self._local: dict[tuple[str, str], Entry] = {}  # (channel, session) -> entry we own
        self._leaving: dict[tuple[str, str], asyncio.TimerHandle] = {}
        self._seq = 0
        self._flush_at: asyncio.TimerHandle | None = None
        self._dirty: set[str] = set()  # rooms with changes not yet sent
        self._full_due = False

    # -- local sessions -----------------------------------------------------

    def join(self, channel: str, entry: Entry, listener: PresenceListener) -> None:
        """A local session enters ``channel``: listed, and sent a snapshot."""
        key = (channel, entry.session)
        timer = self._leaving.pop(key, None)
        if timer is not None:
            timer.cancel()
        room = self.rooms.get(channel) or self.rooms.setdefault(channel, _Room(channel))
        room.put(entry)
        self._local[key] = entry
        self._broadcast({"op": "set", "channel": channel, "entry": entry.wire()})
        room.listeners[entry.session] = listener
        body = room.summary_body() if room.summary else room.snapshot()
        listener.on_presence(channel, PresenceUpdate(body))
        self._changed(room)

    def update(self, channel: str, session: str, draft: str | None, state: str) -> bool:
        """Change a local session's draft and state; False if it is not present."""
        entry = self._local.get((channel, session))
        room = self.rooms.get(channel)
        if entry is None or room is None:
            return False
        if (entry.draft, entry.state) != (draft, state):
            entry.draft, entry.state = draft, state
            room.put(entry)
            self._broadcast({"op": "set", "channel": channel, "entry": entry.wire()})
            self._changed(room)
        return True

    def leave(self, channel: str, session: str, *, grace: bool) -> None:
        """A local session leaves: at once, or after the grace period (a dropped connection)."""
        room = self.rooms.get(channel)
        if room is not None:
            room.listeners.pop(session, None)
        key = (channel, session)
        if key not in self._local:
            return
        if grace and self.grace > 0:
            if key not in self._leaving:
                loop = asyncio.get_running_loop()
                self._leaving[key] = loop.call_later(self.grace, self._expire, key)
            return
        self._expire(key)

    def _expire(self, key: tuple[str, str]) -> None:
        self._leaving.pop(key, None)
        if self._local.pop(key, None) is None:
            return
        channel, session = key
        self._broadcast({"op": "del", "channel": channel, "session": session})
        room = self.rooms.get(channel)
        if room is not None:
            room.remove(session)
            self._changed(room)

    # -- sending to clients -----------------------------------------------

    def _changed(self, room: _Room) -> None:
        self._dirty.add(room.channel)
        self._schedule(FLUSH_DELAY)

    def _schedule(self, delay: float) -> None:
        loop = asyncio.get_running_loop()
        when = loop.time() + delay
        if self._flush_at is not None:
            if self._flush_at.when() <= when:
                return
            self._flush_at.cancel()
        self._flush_at = loop.call_at(when, self._flush)

    def _flush(self) -> None:
        self._flush_at = None
        now = time.monotonic()
        later: float | None = None
        dirty, self._dirty = self._dirty, set()
        for channel in dirty:
            room = self.rooms.get(channel)
            if room is None or not room.dirty:
                continue
            if not room.entries and not room.listeners:
                del self.rooms[channel]
                continue
            if len(room.users) > self.detail_limit:
                wait = room.summary_at + self.summary_interval - now
                if room.summary and wait > 0:  # keep it dirty until a summary is due
                    later = wait if later is None else min(later, wait)
                    self._dirty.add(channel)
                    continue
                room.summary, room.summary_at = True, now
                room.dirty.clear()
                self._send(room, PresenceUpdate(room.summary_body()))
                continue
            if room.summary:  # small again: everyone gets the full picture once
                room.summary = False
                room.dirty.clear()
                self._send(room, PresenceUpdate(room.snapshot()))
                continue
            users = {u: room.user_view(u) for u in sorted(room.dirty)}
            room.dirty.clear()
            body = {"type": "presence", "channel": channel, "mode": "diff", "users": users, "count": room.count()}
            self._send(room, PresenceUpdate(body))
        if later is not None:
            self._schedule(later)

    def _send(self, room: _Room, update: PresenceUpdate) -> None:
        for listener in tuple(room.listeners.values()):
            listener.on_presence(room.channel, update)

    # -- other nodes ------------------------------------------------------

    def _broadcast(self, message: dict[str, Any]) -> None:
        if self.publish is None:
            return
        self._seq += 1
        message["seq"] = self._seq
        self.publish(orjson.dumps(message))

    def hello(self) -> None:
        """Ask every node for its full state and send ours (start, broker back)."""
        if self.publish is not None:
            self.publish(orjson.dumps({"op": "hello"}))
            self._send_full()

    def _send_full(self) -> None:
        self._full_due = False
        if self.publish is None:
            return
        entries = [[channel, entry.wire()] for (channel, _), entry in self._local.items()]
        self.publish(orjson.dumps({"op": "full", "seq": self._seq, "entries": entries}))

    def _full_soon(self) -> None:
        if not self._full_due:  # many asks in a burst: one answer
            self._full_due = True
            asyncio.get_running_loop().call_soon(self._send_full)

    def on_message(self, sender: str, data: bytes) -> None:
        """A presence message from another node (the broker's ``sender``)."""
        try:
            message = orjson.loads(data)
            op = message["op"]
        except (orjson.JSONDecodeError, KeyError, TypeError):
            log.warning("presence: malformed message from %s dropped", sender)
            return
        if op == "hello":
            self._full_soon()
        if op == "want":
            if message.get("node") == self.node_id:
                self._full_soon()
            return
        node = self.nodes.get(sender)
        if node is None:
            node = self.nodes[sender] = _Node(time.monotonic())
        node.heard = time.monotonic()
        try:
            if op == "full":
                self._apply_full(sender, node, message)
            elif op in ("set", "del", "beat"):
                seq = int(message["seq"])
                if op == "set":
                    self._apply_set(node, message["channel"], Entry.from_wire(message["entry"]))
                elif op == "del":
                    self._apply_del(node, message["channel"], str(message["session"]))
                in_order = seq == node.seq if op == "beat" else seq == node.seq + 1
                if node.seq >= 0 and in_order:
                    node.seq = seq
                elif node.seq >= 0 or op == "beat":
                    # A gap, or still waiting for a full state (asked again on each beat).
                    node.seq = -2
                    self._ask(sender)
        except (KeyError, TypeError, ValueError):
            log.warning("presence: malformed %s message from %s dropped", op, sender)

    def _ask(self, node_id: str) -> None:
        if self.publish is not None:
            self.publish(orjson.dumps({"op": "want", "node": node_id}))

    def _apply_set(self, node: _Node, channel: str, entry: Entry) -> None:
        room = self.rooms.get(channel) or self.rooms.setdefault(channel, _Room(channel))
        room.put(entry)
        node.keys.add((channel, entry.session))
        self._changed(room)

    def _apply_del(self, node: _Node, channel: str, session: str) -> None:
        node.keys.discard((channel, session))
        room = self.rooms.get(channel)
        if room is not None:
            room.remove(session)
            self._changed(room)

    def _apply_full(self, sender: str, node: _Node, message: dict[str, Any]) -> None:
        entries = [(str(c), Entry.from_wire(e)) for c, e in message["entries"]]
        fresh = {(c, e.session) for c, e in entries}
        for channel, session in node.keys - fresh:
            self._apply_del(node, channel, session)
        for channel, entry in entries:
            room = self.rooms.get(channel)
            if room is None or room.entries.get(entry.session) != entry:
                self._apply_set(node, channel, entry)
        node.keys = fresh
        node.seq = int(message["seq"])

    def beat(self) -> None:
        """Send our heartbeat and drop nodes not heard for ``node_timeout``."""
        if self.publish is not None:
            self.publish(orjson.dumps({"op": "beat", "seq": self._seq}))
        deadline = time.monotonic() - self.node_timeout
        for node_id, node in list(self.nodes.items()):
            if node.heard < deadline:
                log.info("presence: node %s silent; dropping its %d entries", node_id, len(node.keys))
                del self.nodes[node_id]
                for channel, session in node.keys:
                    room = self.rooms.get(channel)
                    if room is not None:
                        room.remove(session)
                        self._changed(room)

    async def run(self) -> None:
        """Beat until cancelled (``hub.live`` owns the task)."""
        while True:
            self.beat()
            await asyncio.sleep(self.beat_interval)

    # -- looking --------------------------------------------------------------

    def users(self, channel: str) -> dict[str, Any]:
        room = self.rooms.get(channel)
        return {} if room is None else {u: room.user_view(u) for u in room.users}

    def local_sessions(self) -> Iterable[tuple[str, str]]:
        return self._local.keys()

    def close(self) -> None:
        for timer in self._leaving.values():
            timer.cancel()
        self._leaving.clear()
        if self._flush_at is not None:
            self._flush_at.cancel()
            self._flush_at = None
