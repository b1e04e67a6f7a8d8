"""In-process broker: the default. Single node only.

With its own private ``MemoryBus`` (the default) a node hears nobody, which
is right for one node: there is nobody else. Brokers that share one bus in
one process behave like nodes sharing a Redis, which makes this the test
double of the contract suite. ``interrupt``/``resume`` simulate an outage.
"""

from __future__ import annotations

import asyncio

from rooms.broker import BrokerListener, BrokerStats, seal, unseal

__all__ = ["MemoryBroker", "MemoryBus"]


class MemoryBus:
    """Channels shared by the brokers of one process."""

    def __init__(self) -> None:
        self.subscribers: dict[str, set[MemoryBroker]] = {}


class MemoryBroker:
    """Broker on a ``MemoryBus`` (see ``rooms.broker.Broker``). Single node only by default."""

    def __init__(self, node_id: str, bus: MemoryBus | None = None) -> None:
        self.node_id = node_id
        self.bus = bus if bus is not None else MemoryBus()
        self.stats = BrokerStats()
        self._stamp = seal(node_id, b"")
        self._listener: BrokerListener | None = None
        self._channels: set[str] = set()
        self._up = False

    @property
    def up(self) -> bool:
        return self._up

    async def open(self, listener: BrokerListener) -> None:
        self._listener = listener
        self._up = True

    async def close(self) -> None:
        for channel in tuple(self._channels):
            self._leave(channel)
        self._listener = None
        self._up = False

    async def subscribe(self, channel: str) -> None:
        self._channels.add(channel)
        if self._up:
            self.bus.subscribers.setdefault(channel, set()).add(self)

    async def unsubscribe(self, channel: str) -> None:
        self._channels.discard(channel)
        self._leave(channel)

    def _leave(self, channel: str) -> None:
        subs = self.bus.subscribers.get(channel)
        if subs is not None:
            subs.discard(self)
            if not subs:
                del self.bus.subscribers[channel]

    def publish(self, channel: str, data: bytes) -> None:
        if not self._up:
            self.stats.dropped += 1
            return
        self.stats.published += 1
        subs = self.bus.subscribers.get(channel)
        if not subs or (len(subs) == 1 and self in subs):
            return  # nobody else: the single-node default ends here
        message = self._stamp + data
        loop = asyncio.get_running_loop()
        for broker in subs:
            if broker is not self:
                # call_soon keeps the publisher's order and never re-enters it.
                loop.call_soon(broker._deliver, channel, message)

    def _deliver(self, channel: str, message: bytes) -> None:
        if not self._up or channel not in self._channels or self._listener is None:
            return
        sender, data = unseal(message)
        self.stats.received += 1
        self._listener.on_message(channel, sender, data)

    # -- outage simulation (tests) ---------------------------------------

    def interrupt(self) -> None:
        """Go down as a lost connection would: subscriptions lapse, messages drop."""
        if not self._up:
            return
        self._up = False
        self.stats.outages += 1
        for channel in self._channels:
            self._leave(channel)
        if self._listener is not None:
            self._listener.on_down()

    def resume(self) -> None:
        """Come back: resubscribe everything wanted, then ``on_up``."""
        if self._up or self._listener is None:
            return
        self._up = True
        for channel in self._channels:
            self.bus.subscribers.setdefault(channel, set()).add(self)
        self._listener.on_up()
