"""This node's live channels: each channel's subscribers, in order, without gaps.

A ``Feed`` exists for each channel with a subscriber on this node. It knows
the channel's epoch and ``top``, the newest offset it has delivered, and it
delivers only ``top + 1``: events arrive from this node's publisher and from
other nodes through the broker, in any order and possibly twice, and the
feed puts them right.

- An event at or below ``top`` is a duplicate and is dropped.
- An event beyond ``top + 1`` waits, and the gap is read from the store.
  The store commits a channel's events in offset order, so everything below
  an event that was announced is already there to read.
- Events announced nowhere (a publisher that died after its commit, a
  message the broker dropped) are found by ``poll``, which compares every
  feed with the store every few seconds, and after a broker outage.
- An event of another epoch means the channel's history started over: the
  feed takes the store's position and tells its subscribers ``reset``.

A subscription's ``position`` is the last offset its client has; a feed
sends it only newer events. That makes a resubscribe exact: the missed
events are read (from the feed's recent events, or the store), sent, and
the subscription joins the live stream at the last one sent, in one step
with no await in between, so nothing is sent twice or skipped.
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from collections.abc import Iterable
from typing import NamedTuple, Protocol

from rooms.event_store import EventStore, Position
from rooms.events import Event

__all__ = ["Attached", "Fanout", "Feed", "Since", "Subscriber", "Subscription"]

log = logging.getLogger("tongpin.fanout")

FILL_BATCH = 1000  # events read from the store per gap-filling query


class Since(NamedTuple):
    """Where a resubscribing client stopped: the last epoch and offset it has."""

    epoch: str
    offset: int


class Attached(NamedTuple):
    """The outcome of a subscribe, handed to the subscriber before it goes live."""

    epoch: str
    offset: int  # the subscription's position once ``missed`` is sent
    recovered: bool | None  # None: no ``since`` was given
    missed: list[Event]


class Subscriber(Protocol):
    """A client connection as a feed sees it. Calls must not block or raise."""

    def on_attached(self, sub: Subscription, attached: Attached) -> None:
        """Send the subscribe answer and the missed events: before anything live."""

    def on_events(self, sub: Subscription, events: list[Event], wire: bytes) -> None:
        """Send live events, consecutive and in order. ``wire`` is their frames,
        joined once and shared by every receiver of the same run."""

    def on_reset(self, sub: Subscription, position: Position) -> None:
        """The channel's history was lost; the client must reload from the API."""


class Subscription:
    __slots__ = ("channel", "position", "subscriber")

    def __init__(self, channel: str, subscriber: Subscriber) -> None:
        self.channel = channel
        self.subscriber = subscriber
        self.position = 0


class Feed:
    __slots__ = (
        "again",
        "attaching",
        "epoch",
        "filling",
        "name",
        "pending",
        "ready",
        "recent",
        "run",
        "subs",
        "top",
    )

    def __init__(self, name: str, recent: int) -> None:
        self.name = name
        self.epoch: str | None = None  # None until the store's position is known
        self.top = 0
        self.subs: set[Subscription] = set()
        self.recent: deque[Event] = deque(maxlen=recent)  # the newest delivered, consecutive
        self.pending: dict[int, Event] = {}  # beyond top + 1, waiting for the gap
        self.run: list[Event] = []  # delivered in this step, not yet sent (see Fanout._send_runs)
        self.filling: asyncio.Task[None] | None = None
        self.again = False  # something arrived while filling: read once more
        self.attaching = 0  # subscribes in progress: the feed must outlive them
        self.ready: asyncio.Future[None] = asyncio.get_running_loop().create_future()


class Fanout:
    def __init__(self, store: EventStore, *, recent: int = 256, recover_limit: int = 10_000) -> None:
        self.store = store
        self.recent = recent
        self.recover_limit = recover_limit
        self.feeds: dict[str, Feed] = {}
        self._runs: list[Feed] = []  # feeds with a run to send
        self.delivered = 0  # event frames handed to subscribers
        self.gaps_filled = 0
        self.resets = 0

    # -- subscribing --------------------------------------------------------

    async def attach(self, channel: str, subscriber: Subscriber, since: Since | None) -> Subscription:
        """Subscribe; recover from ``since`` if given. ``StoreUnavailable`` if the store is down."""
        sub = Subscription(channel, subscriber)
        for _ in range(3):
            feed = await self._feed(channel)
            feed.attaching += 1
            try:
                if await self._try_attach(feed, sub, since):
                    return sub
            finally:
                feed.attaching -= 1
        # The channel moved faster than three reads could follow: not filled, so say so.
        feed = await self._feed(channel)
        self._join(feed, sub, Attached(feed.epoch or "", feed.top, False, []))
        return sub

    def detach(self, sub: Subscription) -> None:
        feed = self.feeds.get(sub.channel)
        if feed is None:
            return
        feed.subs.discard(sub)
        if not feed.subs and not feed.attaching and feed.ready.done():
            del self.feeds[sub.channel]
            if feed.filling is not None:
                feed.filling.cancel()

    async def _feed(self, channel: str) -> Feed:
        """The channel's feed, ready; its caller takes part before its next await."""
        while True:
            feed = self.feeds.get(channel)
            if feed is None:
                return await self._new_feed(channel)
            try:
                await asyncio.shield(feed.ready)
            except asyncio.CancelledError:
                task = asyncio.current_task()
                if feed.ready.cancelled() and task is not None and not task.cancelling():
                    continue  # its creator was cancelled, not us: make it afresh
                raise
            if self.feeds.get(channel) is feed:  # not dropped while we waited
                return feed

    async def _new_feed(self, channel: str) -> Feed:
        feed = self.feeds[channel] = Feed(channel, self.recent)
        try:
            position = (await self.store.positions([channel]))[channel]
        except BaseException as exc:
            del self.feeds[channel]
            if isinstance(exc, Exception):
                feed.ready.set_exception(exc)
                feed.ready.exception()  # retrieved: other waiters re-raise it themselves
            else:
                feed.ready.cancel()
            raise
        # Events that arrived while reading are in pending; keep those after the position.
        feed.epoch, feed.top = position.epoch, position.top
        self._drain(feed)
        self._send_runs()
        feed.ready.set_result(None)
        return feed

    async def _try_attach(self, feed: Feed, sub: Subscription, since: Since | None) -> bool:
        """Join ``sub`` to ``feed``; False if the feed changed meanwhile (try again)."""
        epoch = feed.epoch
        assert epoch is not None
        if since is None:
            self._join(feed, sub, Attached(epoch, feed.top, None, []))
            return True
        unrecoverable = Attached(epoch, feed.top, False, [])
        if since.epoch != epoch or feed.top - since.offset > self.recover_limit:
            self._join(feed, sub, unrecoverable)
            return True
        if since.offset > feed.top:
            # This node may lag the store (an announcement in flight): ask the store.
            position = (await self.store.positions([feed.name]))[feed.name]
            if feed.epoch != epoch:
                return False
            if position.epoch != epoch or position.top < since.offset:
                self._join(feed, sub, Attached(epoch, feed.top, False, []))
            else:  # the feed skips what the client has when it arrives
                self._join(feed, sub, Attached(epoch, since.offset, True, []))
            return True
        missed = self._from_recent(feed, since.offset)
        if missed is None:
            history = await self.store.read(feed.name, since.offset, self.recover_limit)
            if feed.epoch != epoch:
                return False
            position = history.position
            if position.epoch != epoch or since.offset < position.kept_after:
                self._join(feed, sub, Attached(epoch, feed.top, False, []))
                return True
            if position.top - since.offset > self.recover_limit:
                self._join(feed, sub, Attached(epoch, feed.top, False, []))
                return True
            missed = history.events
            if len(missed) != position.top - since.offset:
                return False
            last = missed[-1].offset if missed else since.offset
            if last < feed.top:  # the feed moved on while we read: take the rest from memory
                tail = self._from_recent(feed, last)
                if tail is None:
                    return False
                missed += tail
        last = missed[-1].offset if missed else since.offset
        self._join(feed, sub, Attached(epoch, last, True, missed))
        return True

    def _from_recent(self, feed: Feed, after: int) -> list[Event] | None:
        """Delivered events after ``after``, if the feed still holds all of them."""
        if after >= feed.top:
            return []
        recent = feed.recent
        if not recent or recent[0].offset > after + 1:
            return None
        start = after + 1 - recent[0].offset
        return [recent[i] for i in range(start, len(recent))]

    def _join(self, feed: Feed, sub: Subscription, attached: Attached) -> None:
        sub.position = attached.offset
        sub.subscriber.on_attached(sub, attached)
        feed.subs.add(sub)

    # -- delivering ---------------------------------------------------------

    def receive(self, events: Iterable[Event]) -> None:
        """Events from this node's publisher or the broker, in any order."""
        for event in events:
            feed = self.feeds.get(event.channel)
            if feed is None:
                continue
            if feed.epoch is None:  # still reading the position: keep for later
                if len(feed.pending) < self.recover_limit:
                    feed.pending[event.offset] = event
            elif event.epoch != feed.epoch:
                self._fill(feed)  # the store says which epoch is current
            elif event.offset == feed.top + 1:
                self._deliver(feed, event)
                if feed.pending and self._drain(feed):
                    self._fill(feed)
            elif event.offset > feed.top + 1:
                if len(feed.pending) < self.recover_limit:
                    feed.pending[event.offset] = event
                self._fill(feed)
        self._send_runs()

    def _deliver(self, feed: Feed, event: Event) -> None:
        feed.top = event.offset
        feed.recent.append(event)
        if not feed.run:
            self._runs.append(feed)
        feed.run.append(event)

    def _send_runs(self) -> None:
        """Send what this step delivered: per feed and subscriber, one call for the whole run.

        Called at the end of every synchronous step that delivers, so nothing
        ever waits in a run across an await, and a subscriber joins only
        between steps.
        """
        runs, self._runs = self._runs, []
        for feed in runs:
            run, feed.run = feed.run, []
            if not run:
                continue
            first, last = run[0].offset, run[-1].offset
            wire: bytes | None = None
            for sub in tuple(feed.subs):
                if sub.position >= last:
                    continue
                if sub.position < first:
                    if wire is None:
                        wire = b"".join(e.frame() for e in run)
                    part, part_wire = run, wire
                else:  # already has the start of the run (it resubscribed ahead of this node)
                    part = [e for e in run if e.offset > sub.position]
                    part_wire = b"".join(e.frame() for e in part)
                sub.position = last
                self.delivered += len(part)
                sub.subscriber.on_events(sub, part, part_wire)

    def _drain(self, feed: Feed) -> bool:
        """Deliver what waited for the gap that just closed; True if a gap remains."""
        pending = feed.pending
        while (event := pending.pop(feed.top + 1, None)) is not None:
            if event.epoch == feed.epoch:
                self._deliver(feed, event)
        for offset in [o for o, e in pending.items() if o <= feed.top or e.epoch != feed.epoch]:
            del pending[offset]
        return bool(pending)

    def _reset(self, feed: Feed, position: Position) -> None:
        self._send_runs()
        log.warning("live channel %s: history lost (epoch %s -> %s)", feed.name, feed.epoch, position.epoch)
        self.resets += 1
        feed.epoch, feed.top = position.epoch, position.top
        feed.recent.clear()
        feed.pending.clear()
        for sub in tuple(feed.subs):
            sub.position = position.top
            sub.subscriber.on_reset(sub, position)

    # -- catching up from the store -------------------------------------------

    def _fill(self, feed: Feed) -> None:
        if feed.filling is not None and not feed.filling.done():
            feed.again = True
        else:
            feed.again = False
            feed.filling = asyncio.get_running_loop().create_task(self._fill_from_store(feed), name="live gap fill")

    async def _fill_from_store(self, feed: Feed) -> None:
        try:
            while self.feeds.get(feed.name) is feed:
                history = await self.store.read(feed.name, feed.top, FILL_BATCH)
                position = history.position
                if position.epoch != feed.epoch or position.kept_after > feed.top:
                    if position.epoch == "":  # the store lost the channel: give it a new epoch
                        position = (await self.store.positions([feed.name]))[feed.name]
                    self._reset(feed, position)
                    continue
                for event in history.events:
                    if event.offset == feed.top + 1:
                        self._deliver(feed, event)
                        self.gaps_filled += 1
                gap = self._drain(feed)
                self._send_runs()
                if len(history.events) == FILL_BATCH:
                    continue  # more to read
                if feed.again:
                    feed.again = False
                    continue
                if not gap or not history.events:
                    # Done; or what waits is newer than the store showed a moment ago
                    # (committed meanwhile): the next event or poll reads again.
                    return
        except Exception as exc:  # the store is down: the next poll tries again
            log.warning("live channel %s: catching up from the store failed: %r", feed.name, exc)

    async def poll(self) -> None:
        """Compare every feed with the store; catch up where the store is ahead."""
        ready = [f for f in self.feeds.values() if f.epoch is not None]
        for i in range(0, len(ready), 500):
            chunk = ready[i : i + 500]
            positions = await self.store.positions([f.name for f in chunk])
            for feed in chunk:
                position = positions.get(feed.name)
                if position is None or self.feeds.get(feed.name) is not feed:
                    continue
                if position.epoch != feed.epoch or position.top > feed.top:
                    self._fill(feed)
