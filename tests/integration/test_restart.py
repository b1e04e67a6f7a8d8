"""Restart: what the hub reported stored survives SIGKILL, exactly once.

The writer asks for the ``stored`` signal (``?stored=1``, message type 100:
"the first n updates of this connection are durable"). Compaction is made to
run mid-way, so the restarted hub loads a snapshot plus the log after it.
"""

from __future__ import annotations

import pytest

from tests.conftest import HubFactory, NodeFactory
from tests.integration.helpers import converged, doc_text, stored_doc
from tests.ypy_client import YClient

pytestmark = pytest.mark.node

ROOM, DRAFT = "hzdaily", "restart"


async def test_stored_edits_survive_sigkill_without_duplicates(
    hub_factory: HubFactory, node_clients: NodeFactory
) -> None:
    hub = hub_factory("--compact-threshold", "25")
    writer = YClient(hub.ws_url(ROOM, DRAFT, stored="1"))
    await writer.connect()
    await writer.wait_synced()

    acked = ""
    for i in range(80):
        piece = f"第{i}条快讯；"
        writer.insert(len(writer.content()), piece)
        acked += piece
        if i % 9 == 0:
            await writer.wait_all_stored()
    await writer.wait_all_stored()
    assert writer.stored == len(writer.sent), "every update sent was reported stored"
    await hub.wait_metric("tongpin_compactions_total", lambda v: v >= 1, "a compaction (snapshot plus log)")

    # More edits, not waited for: they may or may not be stored when the hub dies.
    extra = ""
    for i in range(20):
        piece = f"未确认{i}；"
        writer.insert(len(writer.content()), piece)
        extra += piece
    await hub.sigkill()
    assert await writer.wait_closed() == 1006, "SIGKILL: no close frame"

    await hub.restart()
    fresh = YClient(hub.ws_url(ROOM, DRAFT))
    await fresh.connect()
    await fresh.wait_synced()
    survived = fresh.content()
    # Everything acknowledged survived; what else survived is a prefix of what followed; nothing twice.
    kept, exact = survived.startswith(acked), (acked + extra).startswith(survived)
    assert kept, f"lost stored edits: {len(acked)} characters acknowledged, {len(survived)} came back"
    assert exact, f"not exactly what was typed: {len(survived)} characters, {survived.count('第0条')} times 第0条"

    node = await node_clients("reader")
    await node.connect(hub.ws_base, f"{ROOM}/{DRAFT}")
    assert (await node.wait_synced())["text"] == survived

    # The writer comes back with its own full copy: the unstored rest arrives, nothing doubles.
    await writer.close()
    await writer.connect()
    text, _ = await converged([writer, fresh, node])
    assert text == acked + extra

    # Once more, after everything is stored: kill, restart, a fresh client sees it exactly once.
    await writer.wait_all_stored()
    before = (await node.report())["connections"]
    await hub.sigkill()
    await hub.restart()
    again = YClient(hub.ws_url(ROOM, DRAFT))
    await again.connect()
    await again.wait_synced()
    assert again.content() == acked + extra
    # The Node provider reconnected by itself (same port) and resynced: nothing doubled there either.
    assert (await node.wait("syncedOn", before + 1))["text"] == acked + extra

    await again.close()
    await fresh.close()
    await writer.close()
    await hub.sigterm()
    assert doc_text(await stored_doc(hub.sqlite_path, ROOM, DRAFT)) == acked + extra
