"""Twenty clients join a stored, unloaded draft at the same instant: one load, everyone served."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest
from pycrdt import Doc, Text, TransactionEvent

from rooms.sqlite_store import SqliteStore
from rooms.store import DraftKey
from tests.conftest import HubFactory, NodeFactory
from tests.integration.helpers import doc_text
from tests.ypy_client import YClient

pytestmark = pytest.mark.node

ROOM, DRAFT = "szdaily", "rush"
LOGGED_UPDATES = 5000  # enough that loading takes a while, so the joins overlap it


async def seed(sqlite_path: Path) -> str:
    """Write a draft of many logged updates straight through the Store, as an earlier hub would have."""
    doc: Doc[Any] = Doc()
    text = doc.get("t", type=Text)
    updates: list[bytes] = []

    def collect(event: TransactionEvent) -> None:
        updates.append(event.update)

    sub = doc.observe(collect)
    for i in range(LOGGED_UPDATES):
        text.insert(len(str(text).encode()), f"{i % 10}号")
    doc.unobserve(sub)
    store = SqliteStore(sqlite_path)
    await store.open()
    try:
        await store.append([(DraftKey(ROOM, DRAFT), u) for u in updates])
    finally:
        await store.close()
    return str(text)


async def test_twenty_simultaneous_joins_share_one_load(
    hub_factory: HubFactory, node_clients: NodeFactory, tmp_path: Path
) -> None:
    data_dir = tmp_path / "rush"
    data_dir.mkdir()
    expected = await seed(data_dir / "tongpin.sqlite3")
    hub = hub_factory(data_dir=data_dir)
    assert await hub.metric("tongpin_document_loads_total") == 0
    nodes = [await node_clients(f"tab{i}") for i in range(2)]
    pys = [YClient(hub.ws_url(ROOM, DRAFT)) for _ in range(18)]

    await asyncio.gather(
        *(c.connect() for c in pys),
        *(n.connect(hub.ws_base, f"{ROOM}/{DRAFT}") for n in nodes),
    )

    for client in pys:
        await client.wait_synced(within=20)
        assert client.first_step2 is not None
        alone: Doc[Any] = Doc()
        alone.apply_update(client.first_step2)  # the first answer already held everything
        served, first = client.content() == expected, doc_text(alone) == expected
        assert served, f"a client got {len(client.content())} of {len(expected)} characters"
        assert first, f"a first sync step 2 held {len(doc_text(alone))} of {len(expected)} characters"
    for node in nodes:
        report = await node.wait_synced(within=20)
        at_sync = report["textAtSync"][0] == expected
        assert at_sync, f"the provider synced with {len(report['textAtSync'][0])} of {len(expected)} characters"
    metrics = await hub.metrics()
    assert metrics["tongpin_document_loads_total"] == 1, "the draft was loaded more than once"
    assert metrics["tongpin_documents_loaded"] == 1
    assert metrics["tongpin_connections"] == 20
    for client in pys:
        await client.close()
