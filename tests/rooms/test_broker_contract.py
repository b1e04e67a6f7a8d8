"""The Broker contract (``rooms.broker.Broker``), run over every backend.

Several brokers on one bus play several nodes: ``MemoryBroker``s sharing a
``MemoryBus``, or ``RedisBroker``s on ``TONGPIN_TEST_REDIS_URL`` under a
channel prefix of their own. Outage tests stop the backend for real: the
memory bus is interrupted, and for Redis a private ``redis-server`` is killed
and started again on the same port.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager

import pytest

from rooms.broker import Broker
from rooms.memory_broker import MemoryBroker, MemoryBus
from rooms.redis_broker import RedisBroker
from tests.cluster.services import REDIS_URL, PrivateRedis, check_redis
from tests.waiting import wait_until

WITHIN = 10.0


class Recorder:
    """A broker listener that keeps what it hears."""

    def __init__(self) -> None:
        self.messages: list[tuple[str, str, bytes]] = []
        self.downs = 0
        self.ups = 0

    def on_message(self, channel: str, sender: str, data: bytes) -> None:
        self.messages.append((channel, sender, data))

    def on_down(self) -> None:
        self.downs += 1

    def on_up(self) -> None:
        self.ups += 1

    def data(self, channel: str | None = None) -> list[bytes]:
        return [d for c, _, d in self.messages if channel is None or c == channel]


class Bus:
    """Brokers of one backend that hear each other, and a way to take the backend down."""

    def __init__(
        self,
        make: Callable[[str], Broker],
        outage: Callable[[], AbstractAsyncContextManager[None]] | None = None,
    ) -> None:
        self.make = make
        self.outage = outage
        self.brokers: list[Broker] = []

    async def node(self, name: str) -> tuple[Broker, Recorder]:
        broker = self.make(name)
        listener = Recorder()
        await broker.open(listener)
        self.brokers.append(broker)
        return broker, listener

    async def close(self) -> None:
        for broker in self.brokers:
            await broker.close()


def memory_bus() -> Bus:
    shared = MemoryBus()
    bus = Bus(lambda name: MemoryBroker(name, shared))

    @asynccontextmanager
    async def outage() -> AsyncIterator[None]:
        for b in bus.brokers:
            assert isinstance(b, MemoryBroker)
            b.interrupt()
        yield
        for b in bus.brokers:
            assert isinstance(b, MemoryBroker)
            b.resume()

    bus.outage = outage
    return bus


def redis_bus(url: str, server: PrivateRedis | None = None) -> Bus:
    prefix = f"test-{uuid.uuid4().hex[:8]}:"
    bus = Bus(lambda name: RedisBroker(url, name, prefix=prefix, probe_interval=0.2, probe_timeout=2.0))
    if server is not None:

        @asynccontextmanager
        async def outage() -> AsyncIterator[None]:
            await server.stop()
            yield
            await server.start()

        bus.outage = outage
    return bus


@pytest.fixture(params=["memory", "redis"])
async def bus(request: pytest.FixtureRequest) -> AsyncIterator[Bus]:
    if request.param == "memory":
        b = memory_bus()
    else:
        await check_redis()
        b = redis_bus(REDIS_URL)
    yield b
    await b.close()


@pytest.fixture(params=["memory", "redis"])
async def fragile_bus(request: pytest.FixtureRequest) -> AsyncIterator[Bus]:
    """A bus whose backend the test may stop (a private redis-server for Redis)."""
    if request.param == "memory":
        b = memory_bus()
        yield b
        await b.close()
        return
    async with PrivateRedis() as server:
        b = redis_bus(server.url, server)
        yield b
        await b.close()


async def arrives(condition: Callable[[], object]) -> None:
    await wait_until(condition, within=WITHIN)


def name() -> str:
    return f"node-{uuid.uuid4().hex[:6]}"


# -- delivery ---------------------------------------------------------------


async def test_a_message_reaches_every_other_subscriber_and_never_its_publisher(bus: Bus) -> None:
    (a, heard_a), (b, heard_b), (c, heard_c) = [await bus.node(name()) for _ in range(3)]
    for broker in (a, b, c):
        await broker.subscribe("ch")
    a.publish("ch", b"hello")
    await arrives(lambda: heard_b.data() and heard_c.data())
    assert heard_b.messages == heard_c.messages == [("ch", a.node_id, b"hello")]
    # A fence from b, published after a's message was delivered: a hears it, and
    # its own echo, had it come, would have come first on a's one stream.
    b.publish("ch", b"fence")
    await arrives(lambda: heard_a.data())
    assert heard_a.messages == [("ch", b.node_id, b"fence")]


async def test_one_nodes_messages_arrive_in_its_order_on_one_channel_and_across_channels(bus: Bus) -> None:
    (a, _), (b, heard) = await bus.node(name()), await bus.node(name())
    await b.subscribe("one")
    await b.subscribe("two")
    for i in range(400):
        a.publish("one" if i % 3 else "two", i.to_bytes(4, "big"))
    await arrives(lambda: len(heard.messages) == 400)
    assert [int.from_bytes(d, "big") for d in heard.data()] == list(range(400))


async def test_unsubscribed_channels_are_not_delivered(bus: Bus) -> None:
    (a, _), (b, heard) = await bus.node(name()), await bus.node(name())
    await b.subscribe("gone")
    await b.subscribe("fence")
    await b.unsubscribe("gone")
    a.publish("gone", b"lost")
    a.publish("nobody-listens", b"lost too")
    a.publish("fence", b"fence")
    await arrives(lambda: heard.data())
    assert heard.data() == [b"fence"]


async def test_payloads_arrive_byte_for_byte(bus: Bus) -> None:
    (a, _), (b, heard) = await bus.node(name()), await bus.node(name())
    await b.subscribe("bin")
    payloads = [b"", bytes(range(256)), "同频协作".encode() * 1000, b"\x00" * (1 << 20)]
    for p in payloads:
        a.publish("bin", p)
    await arrives(lambda: len(heard.messages) == len(payloads))
    assert heard.data() == payloads


# -- down and back ------------------------------------------------------------


async def test_an_outage_is_reported_drops_what_is_published_and_heals_every_subscription(fragile_bus: Bus) -> None:
    assert fragile_bus.outage is not None
    (a, heard_a), (b, heard_b) = await fragile_bus.node(name()), await fragile_bus.node(name())
    await b.subscribe("kept")
    assert a.up and b.up
    async with fragile_bus.outage():
        await arrives(lambda: heard_a.downs == 1 and heard_b.downs == 1)
        assert not a.up and not b.up
        dropped = a.stats.dropped
        a.publish("kept", b"into the void")  # never raises, never blocks
        assert a.stats.dropped == dropped + 1
        await b.subscribe("wanted-while-down")  # returns at once; made on return
    await arrives(lambda: heard_a.ups == 1 and heard_b.ups == 1)
    assert a.up and b.up and (heard_a.downs, heard_b.downs) == (1, 1)
    a.publish("kept", b"after")
    a.publish("wanted-while-down", b"also after")
    await arrives(lambda: len(heard_b.messages) == 2)
    assert heard_b.data() == [b"after", b"also after"]


async def test_close_is_idempotent_and_publishing_after_it_is_harmless(bus: Bus) -> None:
    a, heard = await bus.node(name())
    await a.subscribe("x")
    await a.close()
    await a.close()
    a.publish("x", b"late")
    assert not a.up and heard.messages == [] and heard.downs == 0


async def test_open_returns_even_when_the_backend_is_unreachable() -> None:
    """A node must start with Redis down; it is then simply down, and keeps trying."""
    server = PrivateRedis()  # never started: nothing listens on its port
    broker = RedisBroker(server.url, name(), prefix="test-unreachable:", op_timeout=0.5)
    heard = Recorder()
    await broker.open(heard)
    try:
        assert not broker.up
        broker.publish("x", b"dropped")
        assert broker.stats.dropped == 1
        await server.start()
        await broker.subscribe("x")
        await arrives(lambda: broker.up and heard.ups == 1)
    finally:
        await broker.close()
        await server.stop()
