"""Events reach every node's subscribers even while the broker is down.

Two hubs in one process share one SQLite store; their live brokers are the
in-process broker on one bus (the broker contract's multi-node setup), so the
test can take one node's broker down and bring it back.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from rooms.memory_broker import MemoryBus
from tests.live.helpers import hub_in_process

pytestmark = pytest.mark.timeout(60)


def batch(start: int, n: int) -> list[dict[str, object]]:
    return [{"channels": ["unit:humen"], "type": "outage.event", "data": {"seq": start + i}} for i in range(n)]


async def test_a_node_whose_broker_is_down_catches_up_from_the_store(tmp_path: Path) -> None:
    bus = MemoryBus()
    async with (
        hub_in_process(tmp_path, live_bus=bus) as a,
        hub_in_process(tmp_path, live_bus=bus) as b,
        await b.client("humen-editor") as follower,
    ):
        sub = await follower.subscribe("unit:humen")
        await a.publish(batch(0, 5), "before")  # through the broker
        seqs = [(await follower.expect("event"))["data"]["seq"] for _ in range(5)]
        b.hub.live.broker.interrupt()  # b hears nothing from now on
        await a.publish(batch(5, 20), "during")  # found by b's poll of the store
        seqs += [(await follower.expect("event", within=10))["data"]["seq"] for _ in range(20)]
        b.hub.live.broker.resume()
        await a.publish(batch(25, 5), "after")
        seqs += [(await follower.expect("event"))["data"]["seq"] for _ in range(5)]
        assert seqs == list(range(30))
        metrics = await b.metrics()
        assert metrics["tongpin_live_gap_fills_total"] >= 20
        assert sub["epoch"]
