"""The Broker seam: how the nodes of a cluster hear each other.

Backends: ``MemoryBroker`` (in-process, the default: single node only) and
``RedisBroker`` (Redis pub/sub, for a cluster). Both pass the contract suite
in ``tests/rooms/test_broker_contract.py``.

The broker moves opaque bytes on named channels; what the bytes mean (draft
updates, awareness, sequence numbers, catch-up) is ``hub.cluster``'s business.
It stamps every message with the publishing node's id so that a node never
hears its own echo.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from rooms.codec import DecodeError, Decoder, encode_var_string

__all__ = ["Broker", "BrokerListener", "BrokerStats", "seal", "unseal"]


class BrokerListener(Protocol):
    """What a broker calls back. Every call runs on the event loop and must not block."""

    def on_message(self, channel: str, sender: str, data: bytes) -> None:
        """A message another node published on a channel this node subscribes to."""

    def on_down(self) -> None:
        """The broker was lost. Messages published from now on may never arrive."""

    def on_up(self) -> None:
        """The broker is back after ``on_down`` (or after ``open`` found it down).

        Every wanted subscription is active again, but whatever was published
        while it was down is gone: the listener must assume it missed messages
        and resynchronise.
        """


@dataclass(slots=True)
class BrokerStats:
    published: int = 0  # messages handed to the backend
    received: int = 0  # messages delivered to the listener
    dropped: int = 0  # messages given up: broker down, queue full, or lost in a failed write
    outages: int = 0  # times the broker went down


class Broker(Protocol):
    """Node-to-node messages on named channels.

    Guarantees:
    - Delivery is at most once. A message reaches every *other* node that
      subscribes to its channel at most once, and never the node that
      published it (messages carry the publisher's ``node_id``).
    - Order: messages from one node arrive in the order that node published
      them, on one channel and across channels. Nothing orders messages of
      different nodes.
    - ``subscribe`` returns once the subscription is active, so everything
      published after it returns (and not dropped) is delivered. While the
      broker is down it returns at once; the subscription is made when the
      broker comes back, before ``on_up``.
    - ``publish`` never blocks and never raises. It queues the message, in a
      bounded queue; while the broker is down, or when the queue is full, the
      message is dropped and counted in ``stats.dropped``.
    - When down: ``up`` is False, ``on_down`` has been called once, and the
      backend reconnects on its own with backoff. On return it calls
      ``on_up``; the listener resynchronises from the store and its peers.
      Nothing that was only published is durable: durability is the store's.
    """

    node_id: str
    stats: BrokerStats

    @property
    def up(self) -> bool: ...

    async def open(self, listener: BrokerListener) -> None:
        """Start. Returns even if the backend is unreachable (it keeps trying)."""

    async def close(self) -> None:
        """Stop: queued messages get a short moment to leave, then everything is dropped. Idempotent."""

    async def subscribe(self, channel: str) -> None: ...

    async def unsubscribe(self, channel: str) -> None: ...

    def publish(self, channel: str, data: bytes) -> None: ...


def seal(node_id: str, data: bytes) -> bytes:
    """A message as it travels: the publishing node's id, then the payload."""
    return encode_var_string(node_id) + data


def unseal(message: bytes) -> tuple[str, bytes]:
    """Split a travelling message into (sender, payload); DecodeError if malformed."""
    dec = Decoder(message)
    sender = dec.var_string()
    if not sender:
        raise DecodeError("broker message without a sender")
    return sender, message[dec.pos :]
