"""The fan-out (``rooms.fanout``) over a real SQLite event store.

Events reach a node in any order, twice, or not at all; subscribers must
still get each exactly once, in offset order, and a resubscribe must fill
its gap exactly or say it cannot.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from rooms.event_store import History, Position
from rooms.events import Event, Publication
from rooms.fanout import Attached, Fanout, Since, Subscription
from rooms.sqlite_events import SqliteEventStore
from tests.waiting import wait_until

pytestmark = pytest.mark.timeout(30)

CH = "unit:humen"


class Recorder:
    """A subscriber that keeps what it is sent."""

    def __init__(self) -> None:
        self.attached: list[Attached] = []
        self.offsets: list[int] = []
        self.resets: list[Position] = []

    def on_attached(self, sub: Subscription, attached: Attached) -> None:
        self.attached.append(attached)
        self.offsets += [e.offset for e in attached.missed]

    def on_events(self, sub: Subscription, events: list[Event], wire: bytes) -> None:
        assert wire == b"".join(e.frame() for e in events)
        self.offsets += [e.offset for e in events]

    def on_reset(self, sub: Subscription, position: Position) -> None:
        self.resets.append(position)


class GatedStore(SqliteEventStore):
    """The real store, with reads that can be held at a gate (to interleave on purpose)."""

    def __init__(self, path: Path) -> None:
        super().__init__(path)
        self.gate: asyncio.Event | None = None
        self.reading = asyncio.Event()

    async def read(self, channel: str, after: int, limit: int) -> History:
        history = await super().read(channel, after, limit)
        if self.gate is not None:
            self.reading.set()
            await self.gate.wait()
        return history


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[GatedStore]:
    s = GatedStore(tmp_path / "fanout.sqlite3")
    await s.open()
    yield s
    await s.close()


async def publish(store: SqliteEventStore, n: int, channel: str = CH) -> list[Event]:
    result = await store.append([Publication.of([channel], "t.e", {"i": i}) for i in range(n)])
    return result.events


async def test_out_of_order_and_duplicate_events_are_delivered_once_in_order(store: GatedStore) -> None:
    fanout = Fanout(store)
    rec = Recorder()
    await fanout.attach(CH, rec, None)
    events = await publish(store, 6)
    fanout.receive([events[1], events[0], events[0], events[3]])
    fanout.receive([events[2], events[5], events[4], events[1]])
    await wait_until(lambda: len(rec.offsets) >= 6)
    assert rec.offsets == [1, 2, 3, 4, 5, 6]


async def test_a_gap_is_filled_from_the_store(store: GatedStore) -> None:
    fanout = Fanout(store)
    rec = Recorder()
    await fanout.attach(CH, rec, None)
    events = await publish(store, 50)
    fanout.receive([events[-1]])  # 1..49 were never announced here (another node's, lost)
    await wait_until(lambda: len(rec.offsets) == 50)
    assert rec.offsets == list(range(1, 51))
    assert fanout.gaps_filled >= 49


async def test_poll_finds_events_nobody_announced(store: GatedStore) -> None:
    fanout = Fanout(store)
    rec = Recorder()
    await fanout.attach(CH, rec, None)
    await publish(store, 3)
    await fanout.poll()
    await wait_until(lambda: len(rec.offsets) == 3)
    assert rec.offsets == [1, 2, 3]


@pytest.mark.parametrize("recent", [256, 4])
async def test_resubscribe_gets_exactly_the_missed_events(store: GatedStore, recent: int) -> None:
    """From the feed's memory (256) or from the store (4), the answer is the same."""
    fanout = Fanout(store, recent=recent)
    first = Recorder()
    sub = await fanout.attach(CH, first, None)
    fanout.receive(await publish(store, 10))
    epoch = first.attached[0].epoch
    fanout.detach(sub)
    other = await fanout.attach(CH, Recorder(), None)  # keeps the feed alive
    fanout.receive(await publish(store, 10))
    again = Recorder()
    await fanout.attach(CH, again, Since(epoch, 7))
    assert again.attached[0][:3] == (epoch, 20, True)
    assert again.offsets == list(range(8, 21))
    fanout.receive(await publish(store, 2))
    assert again.offsets == list(range(8, 23))
    fanout.detach(other)


async def test_events_arriving_during_the_store_read_are_neither_lost_nor_doubled(store: GatedStore) -> None:
    fanout = Fanout(store, recent=4)
    keeper = Recorder()
    await fanout.attach(CH, keeper, None)
    fanout.receive(await publish(store, 20))
    epoch = keeper.attached[0].epoch
    store.gate = asyncio.Event()
    late = Recorder()
    attaching = asyncio.get_running_loop().create_task(fanout.attach(CH, late, Since(epoch, 2)))
    await store.reading.wait()  # the recovery read is done, its answer held back
    fanout.receive(await publish(store, 3))  # 21..23 go live meanwhile
    store.gate.set()
    await attaching
    assert late.attached[0].recovered is True
    fanout.receive(await publish(store, 1))
    assert late.offsets == list(range(3, 25))
    assert keeper.offsets == list(range(1, 25))


async def test_unfillable_gaps_say_recovered_false(store: GatedStore) -> None:
    fanout = Fanout(store, recent=4, recover_limit=50)
    keeper = Recorder()
    await fanout.attach(CH, keeper, None)
    fanout.receive(await publish(store, 100))
    epoch = keeper.attached[0].epoch
    cases = {
        "another epoch": Since("elsewhere", 5),
        "past the recovery limit": Since(epoch, 10),
        "beyond the newest": Since(epoch, 101),
    }
    for why, since in cases.items():
        rec = Recorder()
        await fanout.attach(CH, rec, since)
        assert rec.attached[0] == Attached(epoch, 100, False, []), why
    # Retention cut: 61..100 kept, a client at 55 cannot be filled, one at 60 can.
    from rooms.event_store import Retention

    await store.trim(Retention(keep=40, max_age=3600), now=__import__("time").time())
    cut = Recorder()
    await fanout.attach(CH, cut, Since(epoch, 55))
    assert cut.attached[0].recovered is False and cut.offsets == []
    edge = Recorder()
    await fanout.attach(CH, edge, Since(epoch, 60))
    assert edge.attached[0].recovered is True and edge.offsets == list(range(61, 101))


async def test_a_client_ahead_of_this_node_skips_what_it_has(store: GatedStore) -> None:
    """It saw 1..5 through another node; this node has not heard of 4 and 5 yet."""
    fanout = Fanout(store)
    keeper = Recorder()
    await fanout.attach(CH, keeper, None)
    events = await publish(store, 5)
    fanout.receive(events[:3])
    ahead = Recorder()
    await fanout.attach(CH, ahead, Since(keeper.attached[0].epoch, 5))
    assert ahead.attached[0].recovered is True and ahead.attached[0].offset == 5
    fanout.receive(events[3:] + await publish(store, 1))
    assert ahead.offsets == [6]
    assert keeper.offsets == [1, 2, 3, 4, 5, 6]


async def test_history_lost_under_a_live_subscription_resets_it(store: GatedStore, tmp_path: Path) -> None:
    fanout = Fanout(store)
    rec = Recorder()
    await fanout.attach(CH, rec, None)
    fanout.receive(await publish(store, 3))
    db = __import__("sqlite3").connect(tmp_path / "fanout.sqlite3", isolation_level=None)
    db.execute("DELETE FROM live_events")
    db.execute("DELETE FROM live_channels")  # as a store reset would
    db.close()
    fresh = await publish(store, 1)  # a new epoch, offset 1
    fanout.receive(fresh)
    await wait_until(lambda: rec.resets)
    assert rec.resets[0].epoch == fresh[0].epoch and rec.resets[0].epoch != rec.attached[0].epoch
    fanout.receive(await publish(store, 1))
    await wait_until(lambda: rec.offsets[-1] == 2)
    assert rec.offsets == [1, 2, 3, 2]


async def test_the_last_subscriber_leaving_during_a_recovery_keeps_the_feed(store: GatedStore) -> None:
    fanout = Fanout(store, recent=2)
    first = Recorder()
    sub = await fanout.attach(CH, first, None)
    fanout.receive(await publish(store, 10))
    store.gate = asyncio.Event()
    late = Recorder()
    attaching = asyncio.get_running_loop().create_task(fanout.attach(CH, late, Since(first.attached[0].epoch, 1)))
    await store.reading.wait()
    fanout.detach(sub)  # the only live subscriber leaves while the recovery reads
    store.gate.set()
    await attaching
    store.gate = None
    fanout.receive(await publish(store, 1))
    assert late.offsets == list(range(2, 12)), "the recovering subscriber is on the live feed"
