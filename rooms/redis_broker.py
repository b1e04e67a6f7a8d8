"""Redis pub/sub broker, for a cluster (see ``rooms.broker.Broker``).

One *session* is one pair of connections: a subscriber (all of this node's
channels) and a publisher fed by one writer task, so this node's messages
leave, and arrive everywhere, in the order it published them. A session ends
on any error, or when this node stops hearing its own probe (a message it
publishes to itself every ``probe_interval``): that catches a half-dead
connection and a subscriber Redis dropped for reading too slowly. Then the
broker is down (``on_down``), reconnects with backoff, resubscribes every
wanted channel, and only then is up again (``on_up``).

redis-py's own retries are switched off: a silent reconnect would hide the
very gap the listener must hear about.

Channels are namespaced as ``tongpin:{db}:`` plus the channel, where ``db``
is the database number of the URL. Redis pub/sub ignores database numbers;
this prefix makes clusters that share one Redis server stay apart the way
their keys would, by using different database numbers.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import time
from collections import deque

import redis.asyncio as aioredis
from redis.asyncio.client import PubSub
from redis.asyncio.connection import parse_url
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.exceptions import RedisError

from rooms.broker import BrokerListener, BrokerStats, seal, unseal
from rooms.codec import DecodeError

__all__ = ["RedisBroker"]

log = logging.getLogger("tongpin.broker")

_BATCH = 512  # messages per pipelined write
_ERRORS = (RedisError, OSError, TimeoutError)


class _SessionLost(Exception):
    """The current pair of connections can no longer be trusted."""


class RedisBroker:
    def __init__(
        self,
        url: str,
        node_id: str,
        *,
        prefix: str | None = None,
        max_pending: int = 10_000,
        probe_interval: float = 1.0,
        probe_timeout: float = 5.0,
        op_timeout: float = 3.0,
        backoff_max: float = 2.0,
    ) -> None:
        self.url = url
        self.node_id = node_id
        db = parse_url(url).get("db", 0)
        self.prefix = prefix if prefix is not None else f"tongpin:{db}:"
        self.max_pending = max_pending
        self.probe_interval = probe_interval
        self.probe_timeout = probe_timeout
        self.op_timeout = op_timeout
        self.backoff_max = backoff_max
        self.stats = BrokerStats()
        self._stamp = seal(node_id, b"")
        self._probe_channel = f"{self.prefix}probe:{node_id}".encode()
        self._listener: BrokerListener | None = None
        self._wanted: set[str] = set()
        self._active: set[bytes] = set()
        self._confirm: dict[bytes, asyncio.Future[None]] = {}
        self._sub_lock = asyncio.Lock()
        self._pubsub: PubSub | None = None
        self._queue: deque[tuple[bytes, bytes]] = deque()
        self._wake = asyncio.Event()
        self._idle = asyncio.Event()  # set while nothing is queued or being written
        self._idle.set()
        self._up = False
        self._was_down = False
        self._session_was_up = False
        self._last_probe = 0.0
        self._attempted = asyncio.Event()
        self._supervisor: asyncio.Task[None] | None = None

    @property
    def up(self) -> bool:
        return self._up

    # -- lifecycle ------------------------------------------------------

    async def open(self, listener: BrokerListener) -> None:
        assert self._supervisor is None, "broker opened twice"
        self._listener = listener
        self._supervisor = asyncio.get_running_loop().create_task(self._supervise(), name="redis broker")
        # Wait for the first attempt only, so a node starts even with Redis down.
        await self._attempted.wait()

    async def close(self, drain: float = 1.0) -> None:
        """Stop; first give queued messages up to ``drain`` seconds to leave."""
        if self._up and not self._idle.is_set():
            try:
                async with asyncio.timeout(drain):
                    await self._idle.wait()
            except TimeoutError:
                pass
        self._listener = None  # no callbacks while shutting down
        task, self._supervisor = self._supervisor, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._up = False
        self._queue.clear()

    # -- subscriptions --------------------------------------------------

    async def subscribe(self, channel: str) -> None:
        self._wanted.add(channel)
        async with self._sub_lock:
            name = self._name(channel)
            if self._up and channel in self._wanted and name not in self._active:
                await self._change([name], subscribe=True)

    async def unsubscribe(self, channel: str) -> None:
        self._wanted.discard(channel)
        async with self._sub_lock:
            name = self._name(channel)
            if self._up and channel not in self._wanted and name in self._active:
                await self._change([name], subscribe=False)

    def _name(self, channel: str) -> bytes:
        return (self.prefix + channel).encode()

    async def _change(self, names: list[bytes], *, subscribe: bool) -> None:
        """Send (un)subscribe for ``names`` and wait until Redis confirms each."""
        pubsub = self._pubsub
        if pubsub is None or not names:
            return
        loop = asyncio.get_running_loop()
        waits = []
        for name in names:
            fut: asyncio.Future[None] = loop.create_future()
            self._confirm[name] = fut
            waits.append(fut)
        try:
            async with asyncio.timeout(self.op_timeout):
                if subscribe:
                    await pubsub.subscribe(*names)
                else:
                    await pubsub.unsubscribe(*names)
                await asyncio.gather(*waits)
        except (*_ERRORS, asyncio.CancelledError) as exc:
            for name in names:
                self._confirm.pop(name, None)
            if isinstance(exc, asyncio.CancelledError):
                raise
            # The session is broken; its reader or watchdog ends it shortly.
            log.warning("broker (un)subscribe failed: %r", exc)

    # -- publishing -----------------------------------------------------

    def publish(self, channel: str, data: bytes) -> None:
        if not self._up or len(self._queue) >= self.max_pending:
            self.stats.dropped += 1
            return
        self._queue.append((self._name(channel), self._stamp + data))
        self._idle.clear()
        self._wake.set()

    # -- the session loop -----------------------------------------------

    async def _supervise(self) -> None:
        delay = 0.05
        failures = 0
        while True:
            try:
                await self._session()
            except (*_ERRORS, _SessionLost) as exc:
                failures += 1
                level = logging.WARNING if failures == 1 else logging.DEBUG
                log.log(level, "broker %s unavailable: %r", self.url_for_logs, exc)
            if self._session_was_up:
                delay, failures = 0.05, 1
            self._was_down = True
            self._attempted.set()
            await asyncio.sleep(delay * (0.5 + random.random()))
            delay = min(delay * 2, self.backoff_max)

    @property
    def url_for_logs(self) -> str:
        return self.url.split("@")[-1]  # no password in logs

    def _went_down(self) -> None:
        self.stats.dropped += len(self._queue)
        self._queue.clear()
        self._idle.set()
        if self._up:
            self._up = False
            self.stats.outages += 1
            if self._listener is not None:
                self._listener.on_down()

    async def _session(self) -> None:
        self._session_was_up = False
        client = aioredis.Redis.from_url(
            self.url,
            retry=Retry(NoBackoff(), 0),
            socket_connect_timeout=self.op_timeout,
            socket_keepalive=True,
            client_name=f"tongpin-{self.node_id}"[:60].replace(" ", "_"),
        )
        pubsub = client.pubsub()
        tasks: list[asyncio.Task[None]] = []
        self._active.clear()
        try:
            async with asyncio.timeout(self.op_timeout):
                await client.ping()
                await pubsub.connect()  # type: ignore[no-untyped-call]  # the reader needs the connection
            self._pubsub = pubsub
            loop = asyncio.get_running_loop()
            tasks.append(loop.create_task(self._read(pubsub), name="redis reader"))
            async with self._sub_lock:
                names = [self._probe_channel] + [self._name(c) for c in sorted(self._wanted)]
                await self._change(names, subscribe=True)
                missing = {self._name(c) for c in self._wanted} - self._active
                if missing or self._probe_channel not in self._active:
                    raise _SessionLost(f"{len(missing)} subscriptions not confirmed")
                self._last_probe = time.monotonic()
                self._up = self._session_was_up = True
            tasks.append(loop.create_task(self._write(client), name="redis writer"))
            tasks.append(loop.create_task(self._probe(), name="redis probe"))
            if self._was_down:
                log.info("broker %s is back", self.url_for_logs)
                if self._listener is not None:
                    self._listener.on_up()
            self._attempted.set()
            done, _ = await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
            for task in done:
                task.result()  # raises what ended the session
            raise _SessionLost("a session task ended")
        finally:
            self._pubsub = None
            self._went_down()
            for task in tasks:
                task.cancel()
            if tasks:
                await asyncio.wait(tasks, timeout=self.op_timeout)
            for fut in self._confirm.values():
                fut.cancel()
            self._confirm.clear()
            await _quietly(pubsub.aclose())  # type: ignore[no-untyped-call]
            await _quietly(client.aclose())

    async def _read(self, pubsub: PubSub) -> None:
        while True:
            msg = await pubsub.get_message(timeout=None)
            if msg is None:
                continue
            kind, name = msg["type"], msg["channel"]
            if kind == "message":
                self._on_raw(name, msg["data"])
            elif kind == "subscribe":
                self._active.add(name)
                self._settle(name)
            elif kind == "unsubscribe":
                self._active.discard(name)
                self._settle(name)

    def _settle(self, name: bytes) -> None:
        fut = self._confirm.pop(name, None)
        if fut is not None and not fut.done():
            fut.set_result(None)

    def _on_raw(self, name: bytes, message: bytes) -> None:
        if name == self._probe_channel:
            self._last_probe = time.monotonic()
            return
        try:
            sender, data = unseal(message)
        except DecodeError:
            log.warning("broker: malformed message on %r dropped", name)
            return
        if sender == self.node_id or self._listener is None:
            return
        channel = name.decode()[len(self.prefix) :]
        if channel not in self._wanted:
            return  # unsubscribed while the message was in flight
        self.stats.received += 1
        self._listener.on_message(channel, sender, data)

    async def _write(self, client: aioredis.Redis) -> None:
        queue, wake = self._queue, self._wake
        while True:
            await wake.wait()
            wake.clear()
            while queue:
                batch = [queue.popleft() for _ in range(min(_BATCH, len(queue)))]
                pipe = client.pipeline(transaction=False)
                for name, message in batch:
                    pipe.publish(name, message)
                sent = sum(1 for name, _ in batch if name != self._probe_channel)
                try:
                    await asyncio.wait_for(pipe.execute(), self.op_timeout)
                except BaseException:
                    self.stats.dropped += sent
                    raise
                self.stats.published += sent
            self._idle.set()

    async def _probe(self) -> None:
        """Publish to ourselves every ``probe_interval``; end the session when it stops coming back."""
        while True:
            await asyncio.sleep(self.probe_interval)
            silent = time.monotonic() - self._last_probe
            if silent > self.probe_timeout:
                raise _SessionLost(f"own probe not heard for {silent:.1f}s")
            self._queue.append((self._probe_channel, b"probe"))
            self._wake.set()


async def _quietly(closing: object) -> None:
    try:
        await closing  # type: ignore[misc]
    except (*_ERRORS, RuntimeError):
        pass
