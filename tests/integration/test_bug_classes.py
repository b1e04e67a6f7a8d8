"""One test per known bug class of Yjs servers (the end of ``shared/STYLE.md``), on a real hub.

The sixth class, memory exhaustion by unauthenticated sockets, is tested in
``test_unauthenticated.py``. Besides the client errors of the second class,
a failed load (an undecodable row injected into the store) is tested too.
"""

from __future__ import annotations

import asyncio
import sqlite3
from pathlib import Path
from typing import Any

import pytest
from pycrdt import Doc

from rooms import codec
from schema.close_codes import CloseCode
from tests.conftest import HubFactory, HubProcess, NodeFactory
from tests.integration.helpers import close_of, converged, doc_text, raw_socket, stored_doc
from tests.ypy_client import YClient, decode_state_vector

ROOM = "gzdaily"


async def type_and_store(hub: HubProcess, draft: str, pieces: list[str]) -> str:
    """One writer types ``pieces`` (one update each) and waits until all are stored."""
    writer = YClient(hub.ws_url(ROOM, draft, stored="1"))
    await writer.connect()
    await writer.wait_synced()
    for piece in pieces:
        writer.insert(len(writer.content()), piece)
    await writer.wait_all_stored()
    text = writer.content()
    await writer.close()
    return text


# -- 1. a sync answer before the stored state has loaded -------------------------------


@pytest.mark.node
async def test_first_sync_step2_already_holds_the_stored_content(
    hub_factory: HubFactory, node_clients: NodeFactory
) -> None:
    hub = hub_factory()
    text = await type_and_store(hub, "first-sync", [f"第{i}段：要闻。" for i in range(300)])
    await hub.sigterm()
    await hub.restart()  # a new process: the draft is not loaded

    node = await node_clients("late")
    first_messages: list[codec.Message] = []
    client = YClient(hub.ws_url(ROOM, "first-sync"))
    client.on_message = first_messages.append
    await asyncio.gather(client.connect(), node.connect(hub.ws_base, f"{ROOM}/first-sync"))
    await client.wait_synced()

    # The very first step 2 holds all of it: applied alone to an empty document it gives the text.
    step2 = client.first_step2
    assert step2 is not None and step2 != b"\x00\x00", "the first sync step 2 was empty"
    alone: Doc[Any] = Doc()
    alone.apply_update(step2)
    whole = doc_text(alone) == text
    assert whole, f"the first sync step 2 held {len(doc_text(alone))} of {len(text)} characters"
    # And the hub's own step 1, its greeting, already carried the loaded state vector.
    greeting = next(m for m in first_messages if m.type == codec.MessageType.SYNC)
    assert greeting.step == codec.SyncStep.STEP1
    assert decode_state_vector(greeting.payload) == decode_state_vector(alone.get_state())
    # The npm provider's "synced" fired with the content already there.
    report = await node.wait_synced()
    at_sync = report["textAtSync"][0] == text
    assert at_sync, f"the provider was synced with {len(report['textAtSync'][0])} of {len(text)} characters"


# -- 2. a draft never unloaded after an error ---------------------------------------------


async def test_drafts_unload_after_their_clients_ended_in_errors(hub_factory: HubFactory) -> None:
    hub = hub_factory("--unload-grace", "0.2", "--max-frame", "4096")
    drafts = ["corrupt-update", "aborted-at-join", "oversized", "text-frame"]
    for draft in drafts:
        await type_and_store(hub, draft, ["有内容"])
    await hub.wait_metric("tongpin_documents_loaded", lambda v: v == 0, "every draft unloaded after the writers")
    unloads = await hub.metric("tongpin_document_unloads_total")

    # Each draft is loaded again by a client whose connection then ends in an error, as its only client.
    bad = await raw_socket(hub.ws_url(ROOM, "corrupt-update"))
    await bad.send(codec.sync_update(b"\x01\x01\xff\xff\xff\xff"))
    assert (await close_of(bad))[0] == CloseCode.BAD_UPDATE

    aborted = await raw_socket(hub.ws_url(ROOM, "aborted-at-join"))
    aborted.transport.abort()  # gone while the hub loads the draft: no close frame

    big = await raw_socket(hub.ws_url(ROOM, "oversized"))
    await big.send(b"\x00\x02" + b"\x01" * 5000)
    assert (await close_of(big))[0] == CloseCode.MESSAGE_TOO_BIG

    text = await raw_socket(hub.ws_url(ROOM, "text-frame"))
    await text.send("文本帧")
    assert (await close_of(text))[0] == CloseCode.BAD_FRAME

    await hub.wait_metric("tongpin_connections", lambda v: v == 0, "every bad connection gone")
    await hub.wait_metric("tongpin_documents_loaded", lambda v: v == 0, "every draft unloaded after the errors")
    loads = await hub.metric("tongpin_document_loads_total")
    assert loads >= 2 * len(drafts) - 1, "the bad clients loaded the drafts again"  # the abort may beat its load
    assert await hub.metric("tongpin_document_unloads_total") == loads > unloads
    for draft in drafts:  # and the errors did not damage what was stored
        reader = YClient(hub.ws_url(ROOM, draft))
        await reader.connect()
        await reader.wait_synced()
        assert reader.content() == "有内容"
        await reader.close()


@pytest.mark.node
async def test_a_failed_load_leaves_nothing_behind(hub_factory: HubFactory, node_clients: NodeFactory) -> None:
    """A load that fails is refused with 1013; no empty draft stands in for it, and it loads once fixed."""
    hub = hub_factory("--unload-grace", "0.2")
    draft = "poisoned"
    text = await type_and_store(hub, draft, ["稿件正文"])
    await hub.wait_metric("tongpin_documents_loaded", lambda v: v == 0, "the draft unloaded")
    # Fault injection: an undecodable row in the draft's log makes its next load fail.
    poison = await asyncio.to_thread(poison_log, hub.sqlite_path, draft)

    first = await raw_socket(hub.ws_url(ROOM, draft))
    assert (await close_of(first))[0] == CloseCode.TRY_AGAIN_LATER
    node = await node_clients("retrying")  # y-websocket retries 1013 with backoff, by itself
    await node.connect(hub.ws_base, f"{ROOM}/{draft}")
    await node.wait("closed", int(CloseCode.TRY_AGAIN_LATER))
    metrics = await hub.metrics()
    assert metrics["tongpin_document_load_failures_total"] >= 2
    assert metrics["tongpin_documents_loaded"] == 0, "a failed load left a draft behind"

    await asyncio.to_thread(unpoison_log, hub.sqlite_path, poison)
    report = await node.wait_synced()
    assert report["textAtSync"] == [text], "the provider saw an empty stand-in before the real draft"
    await node.disconnect()
    await hub.wait_metric("tongpin_documents_loaded", lambda v: v == 0, "the draft unloaded again")
    await hub.sigterm()
    assert doc_text(await stored_doc(hub.sqlite_path, ROOM, draft)) == text


def poison_log(sqlite_path: Path, draft: str) -> int:
    db = sqlite3.connect(sqlite_path, isolation_level=None)
    try:
        cur = db.execute(
            "INSERT INTO doc_updates (room, draft, data) VALUES (?, ?, ?)", (ROOM, draft, b"\x01\x01\xff\xff\xff\xff")
        )
        return int(cur.lastrowid or 0)
    finally:
        db.close()


def unpoison_log(sqlite_path: Path, row: int) -> None:
    db = sqlite3.connect(sqlite_path, isolation_level=None)
    try:
        db.execute("DELETE FROM doc_updates WHERE id = ?", (row,))
    finally:
        db.close()


# -- 3. edits lost when a client reconnects during unload -------------------------------


async def test_reconnecting_around_unload_loses_nothing(hub_factory: HubFactory) -> None:
    hub = hub_factory("--unload-grace", "0.002")
    draft = "reconnect-unload"
    # Another draft's steady traffic keeps the journal committing, so an unload's flush takes a
    # while: the window in which a join meets a draft being unloaded is wider.
    noise = YClient(hub.ws_url(ROOM, "noise", stored="1"))
    await noise.connect()
    await noise.wait_synced()

    async def make_noise() -> None:
        while True:
            noise.insert(0, "噪")
            await noise.wait_all_stored()

    noisy = asyncio.create_task(make_noise())
    expected = ""
    for i in range(60):
        # A writer edits and leaves at once, without waiting for "stored"; the draft's grace is tiny.
        writer = YClient(hub.ws_url(ROOM, draft))
        await writer.connect()
        await writer.wait_synced()
        assert writer.content() == expected
        piece = f"［{i}］"
        writer.insert(len(writer.content()), piece)
        expected += piece
        # A fresh client joins right around the unload: it must see every edit so far, and what it
        # types there must last (the next writer, after the next unload, must see it). It joins
        # while the writer leaves, just after, or once the unload has begun ("noise" stays loaded).
        reader = YClient(hub.ws_url(ROOM, draft))
        if i % 3 == 0:
            await asyncio.gather(writer.close(), reader.connect())
        else:
            await writer.close()
            if i % 3 == 1:
                await hub.wait_metric("tongpin_documents_loaded", lambda v: v == 1, "the unload to begin")
            await reader.connect()
        await reader.wait_synced()
        assert reader.content() == expected, f"round {i}: lost edits"
        reader.insert(len(expected), "·")
        expected += "·"
        await reader.close()
    noisy.cancel()
    await noise.close()
    # The draft really was unloaded and loaded again along the way.
    assert await hub.metric("tongpin_document_unloads_total") >= 8
    assert await hub.metric("tongpin_document_loads_total") >= 8
    await hub.sigkill()
    assert doc_text(await stored_doc(hub.sqlite_path, ROOM, draft)) == expected


# -- 4. duplicated content after a restart --------------------------------------------------


@pytest.mark.node
async def test_no_duplicated_content_after_restarts(hub_factory: HubFactory, node_clients: NodeFactory) -> None:
    hub = hub_factory("--compact-threshold", "5")
    draft = "no-duplicates"
    node = await node_clients("stays")
    await node.connect(hub.ws_base, f"{ROOM}/{draft}", stored="1")
    await node.wait_synced()
    py = YClient(hub.ws_url(ROOM, draft, stored="1"))
    await py.connect()
    await py.wait_synced()
    expected = ""
    for i in range(12):
        piece = f"稿{i}。"
        if i % 2:
            py.insert(len(py.content()), piece)
        else:
            await node.insert(len(expected), piece)
        expected += piece
        await py.wait_text(expected)
        await node.wait("text", expected)
    await node.wait("stored", len((await node.report())["sent"]))
    await py.wait_all_stored()
    await hub.wait_metric("tongpin_compactions_total", lambda v: v >= 1, "a snapshot")

    for restart in range(2):
        connections = (await node.report())["connections"]
        await hub.sigkill()
        await hub.restart()  # same port: the npm provider reconnects by itself and resyncs its whole state
        assert (await node.wait("syncedOn", connections + 1))["text"] == expected
        await py.close()
        await py.connect()  # pycrdt, also with its whole state
        fresh = YClient(hub.ws_url(ROOM, draft))
        await fresh.connect()
        text, _ = await converged([node, py, fresh])
        assert text == expected, f"after restart {restart + 1}"
        await fresh.close()
        await py.wait_all_stored()
    await py.close()
    await hub.sigterm()
    assert doc_text(await stored_doc(hub.sqlite_path, ROOM, draft)) == expected


# -- 5. ghost cursors after a tab dies ----------------------------------------------------------


@pytest.mark.node
@pytest.mark.parametrize("death", ["killed", "frozen"])
async def test_a_dead_tab_leaves_no_ghost_cursor(
    hub_factory: HubFactory, node_clients: NodeFactory, death: str
) -> None:
    # Keepalive pings find the frozen tab (its TCP connection stays up, nothing answers).
    hub = hub_factory("--ping-interval", "0.3", "--ping-timeout", "0.5")
    draft = f"ghost-{death}"
    a = await node_clients("a")
    b = await node_clients("b")
    py = YClient(hub.ws_url(ROOM, draft))
    for tab, name in ((a, "甲"), (b, "乙")):
        await tab.connect(hub.ws_base, f"{ROOM}/{draft}")
        await tab.wait_synced()
        await tab.set_awareness({"user": {"name": name}, "cursor": 0})
    await py.connect()
    await py.wait_synced()
    await py.set_awareness({"user": {"name": "丙"}, "cursor": 0})
    everyone = [a.client_id, b.client_id, py.client_id]
    await a.wait("awareness", everyone)
    await py.wait_for(lambda: {a.client_id, b.client_id} <= py.present(), "both tabs' carets")

    if death == "killed":
        b.kill()  # no close frame, no awareness goodbye
    else:
        b.stop_process()
    # Well before y-protocols' own 30 s timeout would drop it, the hub removes b's caret for everyone.
    await a.wait("awareness", [a.client_id, py.client_id], within=10)
    await py.wait_for(lambda: b.client_id not in py.present(), "b's caret removed", within=10)
    assert py.present() == {a.client_id}
    await hub.wait_metric("tongpin_connections", lambda v: v == 2, "b's connection gone")
