"""Live channels on this node, with one lifecycle: ``Live``.

``Live`` owns the event store, this node's fan-out (``rooms.fanout``), room
presence (``rooms.presence``), the publisher (``rooms.events``) and a broker
connection of its own (the same backend as the cluster's; a second
connection, so live traffic and document traffic never queue behind each
other). Start: store, broker (subscribed to ``live.events`` and
``live.presence``), presence hello, then three loops: presence heartbeat,
store poll (``POLL_INTERVAL``), retention (``TRIM_INTERVAL``). Stop: loops,
presence, broker, store. ``Hub`` starts it after the cluster and stops it
before access, after the server has closed the ``/live`` sockets; before
they are closed (with 1012) ``drain`` delivers what the store holds.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable, Sequence
from typing import TYPE_CHECKING

from hub.cluster import make_broker
from hub.live_api import publish_keys
from rooms.broker import Broker
from rooms.channels import Lookup
from rooms.codec import DecodeError
from rooms.directory import Room, Unit
from rooms.event_store import EventStore, Retention
from rooms.events import Event, Publisher, decode_events, encode_events
from rooms.fanout import Fanout
from rooms.presence import Presence
from rooms.store import StoreUnavailable

if TYPE_CHECKING:
    from hub.access import Access
    from hub.config import Settings
    from hub.live_endpoint import LiveClient

__all__ = ["EVENTS_CHANNEL", "PRESENCE_CHANNEL", "AccessLookup", "Live", "make_event_store", "make_live_broker"]

log = logging.getLogger("tongpin.live")

EVENTS_CHANNEL = "live.events"
PRESENCE_CHANNEL = "live.presence"
POLL_INTERVAL = 2.0  # an event nobody announced is delivered within this (plus a store read)
TRIM_INTERVAL = 60.0
BROKER_BATCH = 256  # events per broker message
UNITS_TTL = 60.0


def make_live_broker(settings: Settings) -> Broker:
    """The cluster's broker backend (``hub.cluster.make_broker``), as a second connection.

    With Redis its channels (and its liveness probe) get a ``live:`` prefix of
    their own, so the two connections of one node never answer for each other.
    """
    broker = make_broker(settings)
    if settings.redis_url:
        from rooms.redis_broker import RedisBroker

        if isinstance(broker, RedisBroker):
            return RedisBroker(settings.redis_url, settings.node_id, prefix=broker.prefix + "live:")
    return broker


def make_event_store(settings: Settings) -> EventStore:
    url = settings.database_url
    if url.startswith(("postgres://", "postgresql://")):
        from rooms.postgres_events import PostgresEventStore

        return PostgresEventStore(url)
    from rooms.sqlite_events import SqliteEventStore

    return SqliteEventStore(settings.sqlite_path)


class AccessLookup:
    """``rooms.channels.Lookup`` over the identity parts: rooms from the sessions'
    cache (kept fresh by its watcher), units from the directory, cached a minute."""

    def __init__(self, access: Access) -> None:
        self.access = access
        self._units: list[Unit] = []
        self._units_at = -UNITS_TTL

    async def room(self, room_id: str) -> Room | None:
        return await self.access.sessions.lookup_room(room_id)

    async def units(self) -> list[Unit]:
        now = time.monotonic()
        if now - self._units_at >= UNITS_TTL:
            self._units = await self.access.directory.units()
            self._units_at = now
        return self._units


class LiveCounters:
    __slots__ = ("behind_total", "connections_total", "errors_total", "subscribes_total")

    def __init__(self) -> None:
        self.connections_total = 0
        self.subscribes_total = 0
        self.errors_total = 0  # error frames sent
        self.behind_total = 0  # clients closed with 4009


class Live:
    def __init__(
        self,
        settings: Settings,
        lookup: Lookup,
        *,
        store: EventStore | None = None,
        broker: Broker | None = None,
    ) -> None:
        self.settings = settings
        self.node_id = settings.node_id
        self.lookup = lookup
        self.store = store if store is not None else make_event_store(settings)
        self.broker = broker if broker is not None else make_live_broker(settings)
        self.publish_keys = publish_keys(settings.live_publish_keys)
        self.retention = Retention(keep=settings.live_history, max_age=settings.live_history_age)
        self.fanout = Fanout(self.store, recover_limit=settings.live_history)
        self.presence = Presence(
            self.node_id,
            publish=self._publish_presence,
            grace=settings.live_presence_grace,
            node_timeout=settings.live_node_timeout,
            detail_limit=settings.live_presence_detail,
        )
        self.publisher = Publisher(self.store, self._announce)
        self.clients: set[LiveClient] = set()
        self.counters = LiveCounters()
        # Told of every event announced here or heard from another node (not of
        # those only the store poll finds): hub.review keeps drafts read-only with it.
        self.listeners: list[Callable[[Sequence[Event]], None]] = []
        self.stopping = False
        self._tasks: list[asyncio.Task[None]] = []
        self._next_session = 0

    def session_id(self) -> str:
        self._next_session += 1
        return f"{self.node_id}.{self._next_session}"

    # -- lifecycle --------------------------------------------------------

    async def start(self) -> None:
        await self.store.open()
        await self.broker.open(self)
        await self.broker.subscribe(EVENTS_CHANNEL)
        await self.broker.subscribe(PRESENCE_CHANNEL)
        self.presence.hello()
        loop = asyncio.get_running_loop()
        self._tasks = [
            loop.create_task(self.presence.run(), name="live presence beat"),
            loop.create_task(self._every(POLL_INTERVAL, self.fanout.poll), name="live poll"),
            loop.create_task(self._every(TRIM_INTERVAL, self.trim), name="live retention"),
            loop.create_task(self._every(self.settings.auth_check_interval, self.recheck), name="live rights"),
        ]

    async def stop(self) -> None:
        self.stopping = True
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self.presence.close()
        for feed in self.fanout.feeds.values():
            if feed.filling is not None:
                feed.filling.cancel()
        await self.broker.close()
        await self.store.close()

    async def drain(self, within: float) -> bool:
        """Deliver to this node's subscribers every event the store holds for their channels.

        Run when the node has stopped accepting, just before its sockets are
        closed with 1012: an event committed anywhere before then (announced or
        not, by this node, another one or a worker) reaches them before the
        close, instead of waiting for the next poll that will never come. What
        a slow store keeps back past ``within`` seconds a client still gets
        when it resubscribes with ``since`` elsewhere. False if cut short.
        """
        feeds = self.fanout.feeds
        try:
            async with asyncio.timeout(within):
                await self.fanout.poll()
                while fills := [f.filling for f in feeds.values() if f.filling is not None and not f.filling.done()]:
                    await asyncio.gather(*fills, return_exceptions=True)
        except (TimeoutError, StoreUnavailable) as exc:
            log.warning("live: drain cut short (%r); clients recover with since", exc)
            return False
        return True

    async def __aenter__(self) -> Live:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    async def _every(self, interval: float, job: Callable[[], Awaitable[object]]) -> None:
        while True:
            await asyncio.sleep(interval)
            try:
                await job()
            except StoreUnavailable as exc:
                log.warning("live: store unavailable: %s", exc)
            except Exception:
                log.exception("live: background job failed")

    async def trim(self) -> int:
        deleted: int = await self.store.trim(self.retention, time.time())
        if deleted:
            log.info("live retention: %d events trimmed", deleted)
        return deleted

    async def recheck(self) -> None:
        """Drop room subscriptions whose planning session no longer admits the user."""
        for client in list(self.clients):
            if client.subs:
                await client.recheck()

    # -- publishing -------------------------------------------------------

    def _announce(self, events: Sequence[Event]) -> None:
        self.fanout.receive(events)
        self._tell(events)
        for i in range(0, len(events), BROKER_BATCH):
            self.broker.publish(EVENTS_CHANNEL, encode_events(events[i : i + BROKER_BATCH]))

    def _tell(self, events: Sequence[Event]) -> None:
        for listener in self.listeners:
            listener(events)

    def _publish_presence(self, data: bytes) -> None:
        self.broker.publish(PRESENCE_CHANNEL, data)

    # -- the broker's listener ------------------------------------------------

    def on_message(self, channel: str, sender: str, data: bytes) -> None:
        if sender == self.node_id:
            return
        if channel == EVENTS_CHANNEL:
            try:
                events = decode_events(data)
            except DecodeError as exc:
                log.warning("live: bad events message from %s dropped: %s", sender, exc)
                return
            self.fanout.receive(events)
            self._tell(events)
        elif channel == PRESENCE_CHANNEL:
            self.presence.on_message(sender, data)

    def on_down(self) -> None:
        log.warning("live: broker down; events still arrive from the store every %.0fs", POLL_INTERVAL)

    def on_up(self) -> None:
        """Whatever was published while the broker was down is lost: catch up from the store."""
        self.presence.hello()
        task = asyncio.get_running_loop().create_task(self._catch_up(), name="live catch-up")
        self._tasks.append(task)
        task.add_done_callback(lambda t: self._tasks.remove(t) if t in self._tasks else None)

    async def _catch_up(self) -> None:
        with contextlib.suppress(StoreUnavailable):
            await self.fanout.poll()

    # -- looking --------------------------------------------------------------

    def metric_rows(self) -> list[tuple[str, str, str, float]]:
        c, f, b = self.counters, self.fanout, self.broker.stats
        return [
            ("tongpin_live_connections", "gauge", "Open /live connections.", len(self.clients)),
            ("tongpin_live_connections_total", "counter", "/live connections accepted.", c.connections_total),
            ("tongpin_live_channels", "gauge", "Live channels with subscribers on this node.", len(f.feeds)),
            ("tongpin_live_subscribes_total", "counter", "Subscribes answered.", c.subscribes_total),
            ("tongpin_live_published_total", "counter", "Events published by this node.", self.publisher.published),
            ("tongpin_live_deliveries_total", "counter", "Event frames sent to subscribers.", f.delivered),
            ("tongpin_live_gap_fills_total", "counter", "Events read from the store to fill a gap.", f.gaps_filled),
            ("tongpin_live_resets_total", "counter", "Channels whose history was lost under subscribers.", f.resets),
            ("tongpin_live_errors_total", "counter", "Error frames sent to /live clients.", c.errors_total),
            ("tongpin_live_behind_total", "counter", "/live clients closed as behind (4009).", c.behind_total),
            ("tongpin_live_presence_rooms", "gauge", "Rooms with presence on this node.", len(self.presence.rooms)),
            ("tongpin_live_broker_received_total", "counter", "Live messages from other nodes.", b.received),
            ("tongpin_live_broker_dropped_total", "counter", "Live messages the broker dropped.", b.dropped),
        ]
