"""SIGTERM with clients connected: store, signal "stored", close with 1012, exit.

Two writers have stopped typing when the signal comes; the hub must report
all of their updates stored before it closes them with 1012. A third types
on through the shutdown; whatever of its updates was reported stored must be
in the store afterwards.
"""

from __future__ import annotations

import asyncio
import base64
import re

import pytest

from schema.close_codes import CloseCode
from tests.conftest import HubProcess, NodeFactory
from tests.integration.helpers import converged, doc_state_vector, doc_text, stored_doc
from tests.ypy_client import YClient, decode_state_vector

pytestmark = pytest.mark.node

ROOM, DRAFT = "fsdaily", "shutdown"


def covered(sent: list[int | None], stored: int, state_vector: dict[int, int], client: int) -> None:
    """Every update among the first ``stored`` sent is in ``state_vector``."""
    assert stored <= len(sent), f"client {client}: {stored} reported stored, only {len(sent)} sent"
    if stored:
        clock = sent[stored - 1]
        assert clock is not None
        assert state_vector.get(client, 0) >= clock, (
            f"client {client}: reported stored up to clock {clock}, the store has {state_vector.get(client, 0)}"
        )


async def test_sigterm_stores_then_closes_with_1012(hub: HubProcess, node_clients: NodeFactory) -> None:
    quiet = YClient(hub.ws_url(ROOM, DRAFT, stored="1"))
    busy = YClient(hub.ws_url(ROOM, DRAFT, stored="1"))
    node = await node_clients("quiet-tab")
    await node.connect(hub.ws_base, f"{ROOM}/{DRAFT}", stored="1")
    await quiet.connect()
    await busy.connect()
    for client in (quiet, busy):
        await client.wait_synced()
    await node.wait_synced()

    # Phase 1: quiet writers type; the hub has applied it all (everyone converged), not waited for as stored.
    for i in range(40):
        quiet.insert(len(quiet.content()), f"静{i}")
    for i in range(10):
        await node.insert(0, f"节{i}")
    phase1, _ = await converged([quiet, busy, node])

    # Phase 2: busy types on, each piece paced by its echo through the hub, until the hub closes it.
    typed = asyncio.Event()

    async def type_on() -> int:
        n = 0
        while not (busy.closed.is_set() or quiet.closed.is_set()):
            busy.insert(len(busy.content()), f"忙{n}")
            n += 1
            if n == 20:
                typed.set()
            mine = busy.content()

            def echoed(mine: str = mine) -> bool:
                return quiet.content() == mine or quiet.closed.is_set()

            await quiet.wait_for(echoed, "the echo")
        return n  # the hub is closing: busy may still send a little, until its own 1012 arrives

    typist = asyncio.create_task(type_on())
    async with asyncio.timeout(10):
        await typed.wait()
    stopping = asyncio.create_task(hub.sigterm())
    assert (await node.wait("closed", int(CloseCode.SERVICE_RESTART)))["closes"][0]["code"] == 1012
    # Read the provider's counts before it reconnects (its counts are per connection).
    report = await node.report()
    assert await busy.wait_closed() == CloseCode.SERVICE_RESTART
    assert await quiet.wait_closed() == CloseCode.SERVICE_RESTART
    await typist
    assert await stopping == 0, "a graceful stop exits 0"
    assert re.search(r"hub \S+ stopped", hub.log()), f"the shutdown did not run to its end\n{hub.log()}"

    # Everything the quiet writers sent was reported stored before the 1012 reached them.
    assert quiet.stored == len(quiet.sent)
    assert report["stored"] == len(report["sent"]) > 10
    # And everything reported stored to anyone is in the store.
    doc = await stored_doc(hub.sqlite_path, ROOM, DRAFT)
    sv = doc_state_vector(doc)
    covered(quiet.sent, quiet.stored, sv, quiet.client_id)
    covered(busy.sent, busy.stored, sv, busy.client_id)
    covered(report["sent"], report["stored"], sv, node.client_id)
    assert busy.stored >= 20
    text = doc_text(doc)
    assert text.startswith(phase1)
    rest = text[len(phase1) :]
    busy_pieces = rest.count("忙")
    assert rest == "".join(f"忙{i}" for i in range(busy_pieces))
    assert busy_pieces >= busy.stored - 1  # its first stored update was its sync step 2
    node_sv = decode_state_vector(base64.b64decode(report["stateVector"]))
    assert sv.get(node.client_id) == node_sv[node.client_id]
