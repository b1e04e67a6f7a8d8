"""Why the hub writes one y-protocols message per frame to every /yjs client.

Both npm providers, y-websocket 3 and @y/websocket 4, read only the first
message of a frame and silently drop the rest, and neither tells the server
(by query parameter, subprotocol or message) that it could take more. So a
packed frame from the hub would lose messages. These tests pin that down
against the real clients: if a future release starts reading every message
of a frame, they fail, and the hub's choice can be revisited (docs/CLIENTS.md).
The clients themselves always send one message per frame; the hub accepts
several anyway (tests/integration/test_interop.py).
"""

from __future__ import annotations

from typing import Any

import pytest
from pycrdt import Doc, Text
from websockets.asyncio.server import ServerConnection, serve

from rooms import codec
from tests.conftest import NodeFactory
from tests.interop.families import require_v4

pytestmark = pytest.mark.node


def insert_update(client_id: int, content: str, doc: Doc[Any] | None = None) -> tuple[Doc[Any], bytes]:
    """``doc`` (a new one for ``client_id`` if None) after appending ``content``, and that update."""
    doc = doc if doc is not None else Doc(client_id=client_id)
    text = doc.get("t", type=Text)
    before = doc.get_state()
    text += content
    return doc, doc.get_update(before)


@pytest.mark.parametrize("family", ["v3", "v4"])
async def test_a_provider_reads_only_the_first_message_of_a_frame(node_clients: NodeFactory, family: str) -> None:
    if family == "v4":
        require_v4()
    doc, first = insert_update(31, "首条")
    _, dropped = insert_update(31, "被丢弃", doc)
    _, last = insert_update(32, "末条")  # another client's: it does not depend on the dropped one
    expected: Doc[Any] = Doc()
    expected.apply_update(first)
    expected.apply_update(last)

    async def serve_one(ws: ServerConnection) -> None:
        await ws.recv()  # the provider's sync step 1
        await ws.send(codec.sync_step2(first) + codec.sync_update(dropped))  # two messages, one frame
        await ws.send(codec.sync_update(last))  # then one in a frame of its own
        await ws.wait_closed()

    async with serve(serve_one, "127.0.0.1", 0) as server:
        port = server.sockets[0].getsockname()[1]
        client = await node_clients(f"reader-{family}", family)
        await client.connect(f"ws://127.0.0.1:{port}", "dgdaily/packed")
        # Frames are handled in order: once the last frame is applied, the second
        # message of the packed one would have been too, had it been read.
        report = await client.wait("text", str(expected.get("t", type=Text)))
        assert report["synced"], "the step 2 at the head of the packed frame was read"
        assert "被丢弃" not in report["text"]
        await client.disconnect()
