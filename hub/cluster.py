"""Cluster glue: keep the drafts open on this node in step with every other node.

Each node holds, for each draft that has clients on it, the authoritative
document (``rooms.draft.Draft``). The broker carries what changes:

- A client update is applied here, relayed to local clients, journaled here
  (by the node that received it, and only there), and published once as
  ``UPDATE(epoch, seq, delta)`` on the draft's channel. Other nodes holding
  the draft apply it as ``Origin.BROKER``: relayed to their clients, never
  journaled, never published again. A node never hears its own echo.
- Awareness changes of local clients are published as ``AWARENESS``; other
  nodes keep them under a ``RemoteNode`` owner and relay them.

Gaps. ``seq`` counts one node's updates to one draft within one ``epoch``
(a number fresh each time that node opens the draft). A receiver that sees a
seq skip, a new epoch not starting at 1, or a heartbeat announcing a seq it
has not seen, knows it missed something and asks its peers: ``SYNC_REQUEST``
carries its state vector, each peer answers with ``SYNC_REPLY``, the diff of
everything it has and the requester lacks. That round trip happens per gap,
never per change. Heartbeats (``HEARTBEAT`` on the ``nodes`` channel, every
``heartbeat`` seconds) are numbered too, so a lost heartbeat is a gap as
well. See ``docs/CLUSTER.md`` for the whole design.

Catching up from the store. When the broker comes back after an outage, the
node asks its peers *and* reconciles each open draft with the store. While
the broker is down, drafts with clients are reconciled with the store every
``poll_interval`` seconds, so editors on different nodes still see each
other, late.

A node that falls silent for ``node_timeout`` seconds (or says goodbye) is
gone: its clients' carets are removed, and each open draft is reconciled
with the store in both directions. What this node holds in memory but the
store lacks (updates the lost node relayed but had not yet stored) is
*adopted*: journaled here. That is the one time a node stores what another
node's client wrote; without it an edit relayed before a SIGKILL would live
only in memory.
"""

from __future__ import annotations

import asyncio
import enum
import logging
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING

from rooms import codec
from rooms.awareness import decode_awareness, encode_awareness
from rooms.broker import Broker
from rooms.draft import Draft, Origin
from rooms.errors import Closing
from rooms.journal import Journal, JournalFull
from rooms.memory_broker import MemoryBroker
from rooms.registry import build_doc
from rooms.store import DraftKey, Store, StoredDraft, StoreUnavailable

if TYPE_CHECKING:
    from hub.config import Settings

__all__ = ["Cluster", "ClusterStats", "Kind", "RemoteNode", "compare_with_store", "draft_channel", "make_broker"]

log = logging.getLogger("tongpin.cluster")

NODES_CHANNEL = "nodes"


def draft_channel(key: DraftKey) -> str:
    return f"d:{key.room}/{key.draft}"


def make_broker(settings: Settings) -> Broker:
    """The broker ``TONGPIN_REDIS_URL`` names; in-process (single node) when empty."""
    url = settings.redis_url
    if not url:
        return MemoryBroker(settings.node_id)
    if not url.startswith(("redis://", "rediss://", "unix://")):
        raise SystemExit(f"tongpin: unsupported broker URL scheme in {url.split(':', 1)[0]!r}")
    from rooms.redis_broker import RedisBroker

    return RedisBroker(url, settings.node_id)


class Kind(enum.IntEnum):
    """Cluster message kinds; each message is ``varUint(kind)`` then its fields."""

    UPDATE = 0  # varUint epoch, varUint seq, varBytes delta
    AWARENESS = 1  # varBytes awareness update
    SYNC_REQUEST = 2  # varUint epoch, varUint seq, varBytes state vector, varBytes awareness
    SYNC_REPLY = 3  # varString to, varUint epoch, varUint seq, varBytes diff, varBytes awareness
    HEARTBEAT = 4  # varUint beat, varUint n, n x (varString channel, varUint epoch, varUint seq)
    GOODBYE = 5


@dataclass(frozen=True, slots=True)
class RemoteNode:
    """Owner of the awareness states that came from another node's clients."""

    node_id: str


@dataclass(slots=True)
class ClusterStats:
    updates_out: int = 0
    updates_in: int = 0
    gaps: int = 0  # missed messages detected
    sync_requests: int = 0
    sync_replies: int = 0
    reconciles: int = 0  # comparisons of an open draft with the store
    adopted: int = 0  # updates journaled on behalf of a lost node
    nodes_lost: int = 0
    bad_messages: int = 0


class _Link:
    """What the cluster knows about one draft open on this node."""

    __slots__ = ("busy", "channel", "draft", "epoch", "last_sync", "seen", "seq", "sync_timer")

    def __init__(self, draft: Draft, epoch: int) -> None:
        self.draft = draft
        self.channel = draft_channel(draft.key)
        self.epoch = epoch
        self.seq = 0  # updates this node published in this epoch
        self.seen: dict[str, tuple[int, int]] = {}  # node -> (epoch, last seq received)
        self.sync_timer: asyncio.TimerHandle | None = None
        self.last_sync = float("-inf")
        self.busy = False  # updates went in or out since the last sync request


class _Node:
    __slots__ = ("beat", "last_seen")

    def __init__(self, beat: int, last_seen: float) -> None:
        self.beat = beat  # last heartbeat number heard (0: none yet)
        self.last_seen = last_seen  # when any message of it last arrived


def compare_with_store(stored: StoredDraft, memory_sv: bytes, memory_state: bytes | None) -> tuple[bytes, bytes | None]:
    """(what memory lacks, what the store lacks); the second only if ``memory_state`` is given.

    Runs in a worker thread: it rebuilds the stored document. What the store
    lacks is what integrating the memory's whole state into the stored
    document changes, so pure deletions count too (they move no state vector).
    """
    doc = build_doc(stored)
    to_memory = doc.get_update(memory_sv)
    if memory_state is None:
        return to_memory, None
    changed: list[bytes] = []
    sub = doc.observe(lambda event: changed.append(event.update))
    doc.apply_update(memory_state)
    doc.unobserve(sub)
    return to_memory, (changed[0] if changed else None)


class Cluster:
    """Drafts on this node <-> the broker <-> drafts on other nodes (see the module docstring)."""

    def __init__(
        self,
        node_id: str,
        broker: Broker,
        store: Store,
        journal: Journal,
        *,
        heartbeat: float = 1.0,
        node_timeout: float = 5.0,
        poll_interval: float = 2.0,
        audit_interval: float = 30.0,
        min_resync: float = 0.25,
    ) -> None:
        self.node_id = node_id
        self.broker = broker
        self.store = store
        self.journal = journal
        self.heartbeat = heartbeat
        self.node_timeout = node_timeout
        self.poll_interval = poll_interval
        self.audit_interval = audit_interval
        self.min_resync = min_resync
        self.stats = ClusterStats()
        self.nodes: dict[str, _Node] = {}
        self._links: dict[DraftKey, _Link] = {}
        self._by_channel: dict[str, _Link] = {}
        self._unsubscribing: dict[str, asyncio.Task[None]] = {}
        self._changed: set[DraftKey] = set()
        self._beat = 0
        self._last_epoch = 0
        self._up_since = 0.0
        self._last_poll = 0.0
        self._reconcile_wanted: dict[DraftKey, bool] = {}
        self._reconcile_wake = asyncio.Event()
        self._tasks: list[asyncio.Task[None]] = []

    # -- lifecycle ------------------------------------------------------

    async def start(self) -> None:
        await self.broker.open(self)
        await self.broker.subscribe(NODES_CHANNEL)
        self._up_since = time.monotonic()
        loop = asyncio.get_running_loop()
        self._tasks = [
            loop.create_task(self._beat_loop(), name="cluster heartbeat"),
            loop.create_task(self._reconciler(), name="cluster reconciler"),
        ]

    async def stop(self) -> None:
        """Say goodbye (peers adopt at once instead of after ``node_timeout``), then close."""
        self.broker.publish(NODES_CHANNEL, codec.encode_var_uint(Kind.GOODBYE))
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, *self._unsubscribing.values(), return_exceptions=True)
        for link in self._links.values():
            if link.sync_timer is not None:
                link.sync_timer.cancel()
        await self.broker.close()

    @property
    def up(self) -> bool:
        return self.broker.up

    def peers_alive(self) -> int:
        return len(self.nodes)

    def metric_rows(self) -> list[tuple[str, str, str, float]]:
        """(name, kind, help, value) rows for ``hub.metrics``."""
        b, c = self.broker.stats, self.stats
        return [
            ("tongpin_broker_up", "gauge", "1 while the broker is connected.", int(self.broker.up)),
            ("tongpin_broker_published_total", "counter", "Messages sent to other nodes.", b.published),
            ("tongpin_broker_received_total", "counter", "Messages received from other nodes.", b.received),
            ("tongpin_broker_dropped_total", "counter", "Messages dropped: broker down or queue full.", b.dropped),
            ("tongpin_broker_outages_total", "counter", "Times the broker was lost.", b.outages),
            ("tongpin_cluster_peers", "gauge", "Other nodes heard within the node timeout.", len(self.nodes)),
            ("tongpin_cluster_updates_in_total", "counter", "Updates applied from other nodes.", c.updates_in),
            ("tongpin_cluster_gaps_total", "counter", "Missed broker messages detected.", c.gaps),
            ("tongpin_cluster_sync_requests_total", "counter", "State-vector requests sent to peers.", c.sync_requests),
            ("tongpin_cluster_reconciles_total", "counter", "Open drafts compared with the store.", c.reconciles),
            ("tongpin_cluster_adopted_total", "counter", "Updates stored for a lost node.", c.adopted),
            ("tongpin_cluster_nodes_lost_total", "counter", "Nodes that left or fell silent.", c.nodes_lost),
            ("tongpin_cluster_bad_messages_total", "counter", "Malformed cluster messages dropped.", c.bad_messages),
        ]

    # -- the registry's hooks (rooms.registry.DraftLifecycle) ---------------

    async def opening(self, key: DraftKey) -> None:
        channel = draft_channel(key)
        pending = self._unsubscribing.pop(channel, None)
        if pending is not None:
            await pending  # an unsubscribe of an earlier life must not undo this one
        await self.broker.subscribe(channel)

    def opened(self, draft: Draft) -> None:
        self._last_epoch = max(self._last_epoch + 1, time.time_ns() // 1000)
        link = _Link(draft, self._last_epoch)
        self._links[draft.key] = link
        self._by_channel[link.channel] = link
        # Whatever peers hold that the stored state lacks (not yet stored, or
        # published between the subscription and the load) comes in the replies.
        self._send_sync_request(link)

    def closed(self, key: DraftKey) -> None:
        link = self._links.pop(key, None)
        channel = draft_channel(key)
        if link is not None:
            self._by_channel.pop(channel, None)
            if link.sync_timer is not None:
                link.sync_timer.cancel()
        self._changed.discard(key)
        self._reconcile_wanted.pop(key, None)
        task = asyncio.get_running_loop().create_task(self.broker.unsubscribe(channel), name=f"unsubscribe {key}")
        self._unsubscribing[channel] = task
        task.add_done_callback(lambda t: self._unsubscribed(channel, t))

    def _unsubscribed(self, channel: str, task: asyncio.Task[None]) -> None:
        if self._unsubscribing.get(channel) is task:
            del self._unsubscribing[channel]

    # -- outbound: the draft's hooks ------------------------------------

    def on_broadcast(self, draft: Draft, delta: bytes, origin: Origin) -> None:
        """A client update integrated here: publish it once, numbered."""
        if origin is not Origin.CLIENT:
            return
        link = self._links.get(draft.key)
        if link is None:
            return
        link.seq += 1
        link.busy = True
        self._changed.add(draft.key)
        self.stats.updates_out += 1
        self.broker.publish(
            link.channel,
            _message(Kind.UPDATE, _u(link.epoch), _u(link.seq), codec.encode_var_bytes(delta)),
        )

    def on_awareness(self, draft: Draft, update: bytes) -> None:
        link = self._links.get(draft.key)
        if link is not None:
            self.broker.publish(link.channel, _message(Kind.AWARENESS, codec.encode_var_bytes(update)))

    # -- inbound: the broker's listener ---------------------------------

    def on_message(self, channel: str, sender: str, data: bytes) -> None:
        if sender == self.node_id:
            return  # the broker filters echoes; this is a second line
        node = self.nodes.get(sender)
        if node is None:
            log.info("node %s is present", sender)
            self.nodes[sender] = _Node(0, time.monotonic())
        else:
            node.last_seen = time.monotonic()
        try:
            dec = codec.Decoder(data)
            kind = dec.var_uint()
            if channel == NODES_CHANNEL:
                self._on_node_message(sender, kind, dec)
                return
            link = self._by_channel.get(channel)
            if link is not None:
                self._on_draft_message(link, sender, kind, dec)
        except (codec.DecodeError, Closing, ValueError) as exc:
            self.stats.bad_messages += 1
            log.warning("dropped a bad message from node %s on %s: %s", sender, channel, exc)

    def on_down(self) -> None:
        log.warning("broker down: open drafts are reconciled with the store every %.0fs", self.poll_interval)

    def on_up(self) -> None:
        """Back after an outage: whatever was published meanwhile is lost; resync everything."""
        now = time.monotonic()
        self._up_since = now
        for node in self.nodes.values():
            node.last_seen = now  # silence during our outage proves nothing
        log.info("broker back: resynchronising %d drafts", len(self._links))
        for key, link in self._links.items():
            self.request_sync(link)
            self._queue_reconcile(key, adopt=False)

    def _on_draft_message(self, link: _Link, sender: str, kind: int, dec: codec.Decoder) -> None:
        draft = link.draft
        if kind == Kind.UPDATE:
            epoch, seq, delta = dec.var_uint(), dec.var_uint(), dec.var_bytes()
            self._advance(link, sender, epoch, seq)
            link.busy = True
            self.stats.updates_in += 1
            draft.apply_remote_update(delta, Origin.BROKER)
        elif kind == Kind.AWARENESS:
            self._remote_awareness(link, sender, dec.var_bytes())
        elif kind == Kind.SYNC_REQUEST:
            epoch, seq, sv, awareness = dec.var_uint(), dec.var_uint(), dec.var_bytes(), dec.var_bytes()
            self._announced(link, sender, epoch, seq)
            self._remote_awareness(link, sender, awareness)
            ours = draft.doc.get_state()
            if _ahead(sv, ours):
                self.request_sync(link)  # the requester has something we lack: ask in turn
            diff = draft.doc.get_update(sv)
            self.stats.sync_replies += 1
            self.broker.publish(
                link.channel,
                _message(
                    Kind.SYNC_REPLY,
                    codec.encode_var_string(sender),
                    _u(link.epoch),
                    _u(link.seq),
                    codec.encode_var_bytes(diff),
                    codec.encode_var_bytes(self._local_awareness(draft)),
                ),
            )
        elif kind == Kind.SYNC_REPLY:
            if dec.var_string() != self.node_id:
                return
            epoch, seq, diff, awareness = dec.var_uint(), dec.var_uint(), dec.var_bytes(), dec.var_bytes()
            # The sender published this after every update up to seq, and the
            # diff holds all of them: a clean baseline for that node.
            prev = link.seen.get(sender)
            if prev is None or prev[0] != epoch or prev[1] < seq:
                link.seen[sender] = (epoch, seq)
            draft.apply_remote_update(diff, Origin.BROKER)
            self._remote_awareness(link, sender, awareness)
        else:
            raise codec.UnknownMessage(f"unknown cluster message kind {kind}")

    def _on_node_message(self, sender: str, kind: int, dec: codec.Decoder) -> None:
        if kind == Kind.GOODBYE:
            self._node_gone(sender, "said goodbye")
            return
        if kind != Kind.HEARTBEAT:
            raise codec.UnknownMessage(f"unknown node message kind {kind}")
        beat = dec.var_uint()
        entries = [(dec.var_string(), dec.var_uint(), dec.var_uint()) for _ in range(dec.var_uint())]
        node = self.nodes[sender]  # on_message registered it
        if node.beat and beat <= node.beat:
            self._node_gone(sender, "restarted")  # same id, new process: the old one is gone
            self.nodes[sender] = node = _Node(0, time.monotonic())
        if node.beat and beat != node.beat + 1:
            self.stats.gaps += 1
            for each in self._links.values():
                self.request_sync(each)  # a lost heartbeat may have named any draft
        node.beat = beat
        for channel, epoch, seq in entries:
            link = self._by_channel.get(channel)
            if link is not None:
                self._announced(link, sender, epoch, seq)

    # -- gap detection --------------------------------------------------

    def _advance(self, link: _Link, sender: str, epoch: int, seq: int) -> None:
        """An update numbered (epoch, seq) arrived from ``sender``."""
        prev = link.seen.get(sender)
        if prev is None or prev[0] != epoch:
            link.seen[sender] = (epoch, seq)
            in_order = seq == 1
        else:
            link.seen[sender] = (epoch, max(seq, prev[1]))
            in_order = seq <= prev[1] + 1
        if not in_order:
            self.stats.gaps += 1
            self.request_sync(link)

    def _announced(self, link: _Link, sender: str, epoch: int, seq: int) -> None:
        """``sender`` says it has published up to (epoch, seq) on this draft."""
        prev = link.seen.get(sender)
        if seq == 0:
            if prev is None or prev[0] != epoch:
                link.seen[sender] = (epoch, 0)
            return
        if prev is None or prev[0] != epoch or prev[1] < seq:
            self.stats.gaps += 1
            self.request_sync(link)

    def request_sync(self, link: _Link) -> None:
        """Ask peers for what this node lacks of the draft; at most once per ``min_resync``."""
        if link.sync_timer is not None:
            return
        loop = asyncio.get_running_loop()
        delay = max(0.0, link.last_sync + self.min_resync - time.monotonic())
        link.sync_timer = loop.call_later(delay, self._send_sync_request, link)

    def _send_sync_request(self, link: _Link) -> None:
        link.sync_timer = None
        if self._links.get(link.draft.key) is not link:
            return
        link.last_sync = time.monotonic()
        link.busy = False
        self.stats.sync_requests += 1
        self.broker.publish(
            link.channel,
            _message(
                Kind.SYNC_REQUEST,
                _u(link.epoch),
                _u(link.seq),
                codec.encode_var_bytes(link.draft.doc.get_state()),
                codec.encode_var_bytes(self._local_awareness(link.draft)),
            ),
        )

    # -- awareness ------------------------------------------------------

    def _remote_awareness(self, link: _Link, sender: str, payload: bytes) -> None:
        entries = decode_awareness(payload)
        if not entries:
            return
        changed = link.draft.awareness.apply(RemoteNode(sender), entries)
        if changed:
            link.draft.broadcast(codec.awareness_message(encode_awareness(changed)), None)

    @staticmethod
    def _local_awareness(draft: Draft) -> bytes:
        """The awareness states of this node's own clients (not relayed ones)."""
        ids: set[int] = set()
        for peer in draft.peers:
            ids |= draft.awareness.owned_by(peer)
        return encode_awareness(e for e in draft.awareness.live() if e.client_id in ids)

    # -- nodes coming and going -----------------------------------------

    def _node_gone(self, node_id: str, why: str) -> None:
        self.nodes.pop(node_id, None)
        self.stats.nodes_lost += 1
        log.warning("node %s is gone (%s): removing its carets, reconciling %d drafts", node_id, why, len(self._links))
        owner = RemoteNode(node_id)
        for key, link in self._links.items():
            gone = link.draft.awareness.remove_owner(owner)
            if gone:
                link.draft.broadcast(codec.awareness_message(encode_awareness(gone)), None)
            link.seen.pop(node_id, None)
            self._queue_reconcile(key, adopt=True)
            self.request_sync(link)

    async def _beat_loop(self) -> None:
        while True:
            await asyncio.sleep(self.heartbeat)
            self._send_heartbeat()
            now = time.monotonic()
            if self.broker.up:
                if now - self._up_since > self.node_timeout:
                    for node_id, node in list(self.nodes.items()):
                        if now - node.last_seen > self.node_timeout:
                            self._node_gone(node_id, f"silent for {now - node.last_seen:.1f}s")
                for link in self._links.values():
                    if link.busy and now - link.last_sync > self.audit_interval:
                        self.request_sync(link)  # the safety net: see docs/CLUSTER.md
            elif now - self._last_poll >= self.poll_interval:
                self._last_poll = now
                for key, link in self._links.items():
                    if link.draft.peers:
                        self._queue_reconcile(key, adopt=False)

    def _send_heartbeat(self) -> None:
        self._beat += 1
        entries = []
        for key in self._changed:
            link = self._links.get(key)
            if link is not None:
                entries.append(codec.encode_var_string(link.channel) + _u(link.epoch) + _u(link.seq))
        self._changed.clear()
        self.broker.publish(NODES_CHANNEL, _message(Kind.HEARTBEAT, _u(self._beat), _u(len(entries)), *entries))

    # -- reconciling with the store -------------------------------------

    def _queue_reconcile(self, key: DraftKey, *, adopt: bool) -> None:
        self._reconcile_wanted[key] = self._reconcile_wanted.get(key, False) or adopt
        self._reconcile_wake.set()

    async def _reconciler(self) -> None:
        backoff = 0.1
        while True:
            if not self._reconcile_wanted:
                self._reconcile_wake.clear()
                await self._reconcile_wake.wait()
                continue
            key = next(iter(self._reconcile_wanted))
            adopt = self._reconcile_wanted.pop(key)
            try:
                await self.reconcile(key, adopt=adopt)
                backoff = 0.1
            except (StoreUnavailable, JournalFull) as exc:
                log.warning("reconciling %s with the store failed, retrying: %s", key, exc)
                self._queue_reconcile(key, adopt=adopt)
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, 2.0)

    async def reconcile(self, key: DraftKey, *, adopt: bool) -> None:
        """Bring the open draft up to the store; with ``adopt``, journal what only memory has."""
        link = self._links.get(key)
        if link is None:
            return
        draft = link.draft
        stored = await self.store.load(key)
        state = draft.doc.get_update() if adopt else None
        to_memory, to_store = await asyncio.to_thread(compare_with_store, stored, draft.doc.get_state(), state)
        if self._links.get(key) is not link:
            return  # unloaded meanwhile
        self.stats.reconciles += 1
        draft.apply_remote_update(to_memory, Origin.LOAD)
        if to_store is not None:
            self.journal.append(key, to_store, None)
            self.stats.adopted += 1
            log.warning("%s: adopted an update of %d bytes the store lacked", key, len(to_store))


def _ahead(theirs: bytes, ours: bytes) -> bool:
    """Whether state vector ``theirs`` has a clock beyond ``ours`` (deletions show in neither)."""
    mine = codec.decode_state_vector(ours)
    return any(clock > mine.get(client, 0) for client, clock in codec.decode_state_vector(theirs).items())


def _u(n: int) -> bytes:
    return codec.encode_var_uint(n)


def _message(kind: Kind, *fields: bytes) -> bytes:
    return codec.encode_var_uint(kind) + b"".join(fields)
