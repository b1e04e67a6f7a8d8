"""Live channels over Hocuspocus stateless messages (``schema/WIRE.md``).

A client sends a stateless message on any open document with a JSON
command; the answers and the channel's events come back as stateless
messages on the same document, so a Tiptap app gets dispatch and alert
pushes on the socket it edits with::

    {"type": "subscribe", "channels": ["unit:humen", "alerts"], "id": 1,
     "since": {"alerts": {"epoch": "...", "offset": 41}}}     # id, since optional
    {"type": "unsubscribe", "channels": ["alerts"]}

    {"type": "subscribed", "channel", "epoch", "offset"[, "recovered", "missed"], "id"}
    {"type": "event", "channel", "epoch", "offset", "event_type", "at", "data"}
    {"type": "unsubscribed", "channel"[, "reason": "forbidden"], "id"}
    {"type": "reset", "channel", "epoch", "offset"}
    {"type": "error", "code", "message"[, "channel"], "id"}

Who may subscribe is ``rooms.channels.authorize``, exactly as on ``/live``;
delivery is the fan-out's (``rooms.fanout``): consecutive offsets, exactly
once, and ``since`` recovers exactly or says ``recovered: false``. Room
channels are re-authorized every ``auth_check_interval`` seconds. A bad
command is answered with an ``error`` and never closes the socket.
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, NamedTuple

import orjson

from rooms import hocuspocus_codec as hp
from rooms.channels import BadChannel, Channel, Kind, Refused, authorize, parse_channel
from rooms.event_store import Position
from rooms.events import Event
from rooms.fanout import Attached, Since, Subscription
from rooms.live_codec import MAX_EPOCH_CHARS, MAX_ID, CommandError, ErrorCode, decode_object
from rooms.store import StoreUnavailable
from schema.close_codes import CloseCode

if TYPE_CHECKING:
    from hub.connection import Connection
    from hub.hocuspocus import HocusDoc, HocuspocusStats
    from hub.live import Live

__all__ = ["Bridge", "ChannelCommand", "decode_command"]

log = logging.getLogger("tongpin.hocuspocus")

MAX_CHANNELS_PER_COMMAND = 16
MAX_WAITING = 32  # commands queued behind a subscribe in progress; past it 4429


class ChannelCommand(NamedTuple):
    type: str  # "subscribe" or "unsubscribe"
    id: int | None
    channels: tuple[Channel, ...]
    since: dict[str, Since]


def decode_command(payload: str) -> ChannelCommand:
    """One stateless payload as a command; ``CommandError`` says what is wrong."""
    body = decode_object(payload)
    raw_id = body.get("id")
    id_ = raw_id if type(raw_id) is int and 0 <= raw_id <= MAX_ID else None
    if raw_id is not None and id_ is None:
        raise CommandError(ErrorCode.BAD_FIELD, f"id is an integer from 0 to {MAX_ID}")
    kind = body.get("type")
    if kind not in ("subscribe", "unsubscribe"):
        raise CommandError(ErrorCode.UNKNOWN_TYPE, "type is subscribe or unsubscribe", id=id_)
    unknown = body.keys() - ({"type", "id", "channels", "since"} if kind == "subscribe" else {"type", "id", "channels"})
    if unknown:
        raise CommandError(ErrorCode.BAD_FIELD, f"{kind} has unknown fields: {', '.join(sorted(unknown))}", id=id_)
    names = body.get("channels")
    if not isinstance(names, list) or not 1 <= len(names) <= MAX_CHANNELS_PER_COMMAND:
        raise CommandError(ErrorCode.BAD_FIELD, f"channels is a list of 1 to {MAX_CHANNELS_PER_COMMAND} names", id=id_)
    channels = []
    for name in names:
        try:
            channels.append(parse_channel(name))
        except BadChannel as exc:
            shown = name if isinstance(name, str) and len(name) <= 100 else None
            raise CommandError(ErrorCode.BAD_CHANNEL, str(exc), id=id_, channel=shown) from None
    if len({c.name for c in channels}) != len(channels):
        raise CommandError(ErrorCode.BAD_FIELD, "a channel is named twice", id=id_)
    return ChannelCommand(kind, id_, tuple(channels), _since(body.get("since"), id_, channels))


def _since(value: object, id_: int | None, channels: Sequence[Channel]) -> dict[str, Since]:
    if value is None:
        return {}
    shape = "since is {channel: {epoch: string, offset: integer >= 0}} for channels of this command"
    if not isinstance(value, dict) or not value.keys() <= {c.name for c in channels}:
        raise CommandError(ErrorCode.BAD_FIELD, shape, id=id_)
    out = {}
    for name, position in value.items():
        if not isinstance(position, dict) or position.keys() != {"epoch", "offset"}:
            raise CommandError(ErrorCode.BAD_FIELD, shape, id=id_, channel=name)
        epoch, offset = position["epoch"], position["offset"]
        if not isinstance(epoch, str) or not 0 < len(epoch) <= MAX_EPOCH_CHARS:
            raise CommandError(ErrorCode.BAD_FIELD, shape, id=id_, channel=name)
        if type(offset) is not int or not 0 <= offset <= MAX_ID:
            raise CommandError(ErrorCode.BAD_FIELD, shape, id=id_, channel=name)
        out[name] = Since(epoch, offset)
    return out


def _error(error: CommandError) -> dict[str, Any]:
    body: dict[str, Any] = {"type": "error", "code": error.code.value, "message": error.message, "id": error.id}
    if error.channel is not None:
        body["channel"] = error.channel
    return body


class _EventPayloads:
    """The JSON of the latest run of events: one encoding per run, whatever the subscribers."""

    __slots__ = ("payloads", "wire")

    def __init__(self) -> None:
        self.wire = b""
        self.payloads: list[bytes] = []

    def of(self, events: list[Event], wire: bytes) -> list[bytes]:
        if wire is not self.wire:
            self.wire = wire
            self.payloads = [event_payload(e) for e in events]
        return self.payloads


def event_payload(e: Event) -> bytes:
    return orjson.dumps(
        {
            "type": "event",
            "channel": e.channel,
            "epoch": e.epoch,
            "offset": e.offset,
            "event_type": e.type,
            "at": e.at,
            "data": orjson.Fragment(e.data),
        }
    )


_EVENTS = _EventPayloads()


class DocFeed:
    """One document's subscriptions: the fan-out's ``Subscriber``."""

    __slots__ = ("attaching", "bridge", "doc", "subs")

    def __init__(self, bridge: Bridge, doc: HocusDoc) -> None:
        self.bridge = bridge
        self.doc = doc
        self.subs: dict[str, Subscription] = {}
        self.attaching: int | None = None  # the id of the subscribe in progress

    def answer(self, body: dict[str, Any]) -> None:
        self.doc.send_own(hp.stateless(self.doc.prefix, orjson.dumps(body)))

    def on_attached(self, sub: Subscription, attached: Attached) -> None:
        continues_after = attached.missed[0].offset - 1 if attached.missed else attached.offset
        body: dict[str, Any] = {
            "type": "subscribed",
            "channel": sub.channel,
            "epoch": attached.epoch,
            "offset": continues_after,
            "id": self.attaching,
        }
        if attached.recovered is not None:
            body["recovered"] = attached.recovered
            if attached.recovered:
                body["missed"] = len(attached.missed)
        self.answer(body)
        self._send([event_payload(e) for e in attached.missed])

    def on_events(self, sub: Subscription, events: list[Event], wire: bytes) -> None:
        self._send(_EVENTS.of(events, wire))

    def on_reset(self, sub: Subscription, position: Position) -> None:
        self.answer({"type": "reset", "channel": sub.channel, "epoch": position.epoch, "offset": position.top})

    def _send(self, payloads: list[bytes]) -> None:
        doc = self.doc
        for payload in payloads:
            doc.send_own(hp.stateless(doc.prefix, payload))
        self.bridge.stats.events_total += len(payloads)


class Bridge:
    """One socket's live subscriptions, made and ended by stateless commands, in order."""

    def __init__(
        self, live: Live, stats: HocuspocusStats, conn: Connection, max_subscriptions: int, recheck_interval: float
    ) -> None:
        self.live = live
        self.stats = stats
        self.conn = conn
        self.max_subscriptions = max_subscriptions
        self.recheck_interval = recheck_interval
        self.feeds: dict[HocusDoc, DocFeed] = {}
        self.inbox: deque[tuple[DocFeed, ChannelCommand]] = deque()
        self.worker: asyncio.Task[None] | None = None
        self.closed = False
        self._recheck: asyncio.TimerHandle | None = None
        self._rechecking: asyncio.Task[None] | None = None

    def count(self) -> int:
        return sum(len(f.subs) for f in self.feeds.values())

    def command(self, doc: HocusDoc, payload: str) -> None:
        feed = self.feeds.get(doc)
        if feed is None:
            feed = self.feeds[doc] = DocFeed(self, doc)
        try:
            cmd = decode_command(payload)
        except CommandError as error:
            feed.answer(_error(error))
            return
        if self.worker is None and cmd.type == "unsubscribe":
            self._unsubscribe(feed, cmd)
            return
        if len(self.inbox) >= MAX_WAITING:
            self.conn.close_soon(CloseCode.RATE_LIMITED, "too many commands waiting; wait for the answers")
            return
        self.inbox.append((feed, cmd))
        if self.worker is None:
            self.worker = asyncio.get_running_loop().create_task(self._work(), name="hocuspocus channels")

    async def _work(self) -> None:
        try:
            while self.inbox and not self.closed:
                feed, cmd = self.inbox.popleft()
                if feed.doc not in self.feeds:
                    continue  # the document closed meanwhile
                if cmd.type == "subscribe":
                    for channel in cmd.channels:
                        await self._subscribe(feed, cmd, channel)
                else:
                    self._unsubscribe(feed, cmd)
        except Exception:
            log.exception("hocuspocus: unexpected error handling a channel command")
            self.conn.close_soon(CloseCode.INTERNAL_ERROR, "internal error")
        finally:
            self.worker = None

    async def _subscribe(self, feed: DocFeed, cmd: ChannelCommand, channel: Channel) -> None:
        name = channel.name
        if name in feed.subs:
            feed.answer(
                _error(CommandError(ErrorCode.ALREADY_SUBSCRIBED, "already subscribed", id=cmd.id, channel=name))
            )
            return
        if self.count() >= self.max_subscriptions:
            message = f"at most {self.max_subscriptions} channels per connection"
            feed.answer(_error(CommandError(ErrorCode.TOO_MANY_SUBSCRIPTIONS, message, id=cmd.id, channel=name)))
            return
        session = feed.doc.session
        if session is None:
            return
        try:
            await authorize(session.identity, channel, self.live.lookup)
            if self._gone(feed):
                return
            feed.attaching = cmd.id
            try:
                sub = await self.live.fanout.attach(name, feed, cmd.since.get(name))
            finally:
                feed.attaching = None
        except Refused as refused:
            feed.answer(_error(CommandError(ErrorCode.FORBIDDEN, str(refused), id=cmd.id, channel=name)))
            return
        except StoreUnavailable:
            message = "the store is unavailable; retry"
            feed.answer(_error(CommandError(ErrorCode.UNAVAILABLE, message, id=cmd.id, channel=name)))
            return
        if self._gone(feed):
            self.live.fanout.detach(sub)
            return
        feed.subs[name] = sub
        if channel.kind is Kind.ROOM:
            self._arm_recheck()

    def _gone(self, feed: DocFeed) -> bool:
        return self.closed or self.feeds.get(feed.doc) is not feed

    def _unsubscribe(self, feed: DocFeed, cmd: ChannelCommand) -> None:
        for channel in cmd.channels:
            sub = feed.subs.pop(channel.name, None)
            if sub is None:
                error = CommandError(ErrorCode.NOT_SUBSCRIBED, "not subscribed", id=cmd.id, channel=channel.name)
                feed.answer(_error(error))
                continue
            self.live.fanout.detach(sub)
            feed.answer({"type": "unsubscribed", "channel": channel.name, "id": cmd.id})

    # -- room channels stay authorized -------------------------------------------

    def _arm_recheck(self) -> None:
        if self._recheck is None and not self.closed:
            self._recheck = asyncio.get_running_loop().call_later(self.recheck_interval, self._start_recheck)

    def _start_recheck(self) -> None:
        self._recheck = None
        if any(n.startswith("room:") for f in self.feeds.values() for n in f.subs):
            self._rechecking = asyncio.get_running_loop().create_task(self._recheck_rooms(), name="room recheck")

    async def _recheck_rooms(self) -> None:
        try:
            for feed in list(self.feeds.values()):
                session = feed.doc.session
                for name in [n for n in feed.subs if n.startswith("room:")]:
                    if session is None:
                        break
                    try:
                        await authorize(session.identity, parse_channel(name), self.live.lookup)
                    except Refused:
                        sub = feed.subs.pop(name, None)
                        if sub is not None:
                            self.live.fanout.detach(sub)
                            feed.answer({"type": "unsubscribed", "channel": name, "reason": "forbidden", "id": None})
        except StoreUnavailable as exc:
            log.warning("hocuspocus: room channels not rechecked: %s", exc)
        self._rechecking = None
        self._arm_recheck()

    # -- the end ---------------------------------------------------------------------

    def drop(self, doc: HocusDoc) -> None:
        """The document closed: its subscriptions end."""
        feed = self.feeds.pop(doc, None)
        if feed is not None:
            for sub in feed.subs.values():
                self.live.fanout.detach(sub)
            feed.subs.clear()

    def close(self) -> None:
        """The socket is gone."""
        self.closed = True
        for doc in list(self.feeds):
            self.drop(doc)
        self.inbox.clear()
        if self._recheck is not None:
            self._recheck.cancel()
            self._recheck = None
