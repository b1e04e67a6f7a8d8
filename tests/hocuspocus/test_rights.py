"""Rights that end while a provider is connected, and per-user limits, on ``/hocuspocus``.

Each document is a session of ``hub.sessions``, so the rules of ``/yjs``
apply per draft: a disabled user's socket closes with 4403 (every document
on it is theirs; rights that end for one document end it alone, see
``test_document_close.py``), and a user's open drafts count against the
per-user connection limit. The provider reconnects by itself and is then
refused per document, with the reason.
"""

from __future__ import annotations

import pytest

from schema.close_codes import CloseCode
from tests.conftest import HubFactory
from tests.hocuspocus.conftest import ROOM, AuthHub, HocusFactory
from tests.identity.hubproc import HubProcess as IdentityHub
from tests.live.helpers import mint

pytestmark = pytest.mark.node


async def test_a_disabled_user_is_closed_with_4403_and_refused_after(
    auth_hub: AuthHub, hp_clients: HocusFactory
) -> None:
    admin = IdentityHub(auth_hub.proc.data_dir)
    admin.port = auth_hub.proc.port
    admin_token = admin.token("dgdaily-admin")
    user = "shatian-editor"
    client = await hp_clients("disabled")
    await client.socket(auth_hub.url)
    doc = f"{ROOM}/disabled"
    await client.open(doc, auth_hub.token(user))
    await client.wait_doc("authenticated", doc, "read-write")
    response = await admin.api("POST", f"/api/admin/users/{user}/disable", admin_token)
    assert response.status_code == 200, response.text
    try:
        await client.wait_doc("closed", doc, int(CloseCode.FORBIDDEN))
        denied = await client.wait_doc("denied", doc)
        assert denied["doc"]["denied"][-1] == "forbidden: user disabled"
    finally:
        response = await admin.api("POST", f"/api/admin/users/{user}/enable", admin_token)
        assert response.status_code == 200, response.text


async def test_open_drafts_count_against_the_per_user_connection_limit(
    hub_factory: HubFactory, hp_clients: HocusFactory
) -> None:
    hub = hub_factory(env={"TONGPIN_AUTH": "required", "TONGPIN_MAX_CONNECTIONS_PER_USER": "2"})
    url = f"ws://127.0.0.1:{hub.port}/hocuspocus"
    token = mint(hub.data_dir, "dgdaily-editor")
    client = await hp_clients("limited")
    await client.socket(url)
    docs = [f"{ROOM}/limit-{i}" for i in range(3)]
    for doc in docs[:2]:
        await client.open(doc, token)
        await client.wait_doc("authenticated", doc, "read-write")
    await client.open(docs[2], token)
    denied = await client.wait_doc("denied", docs[2])
    assert denied["doc"]["denied"][0].startswith("too_many_connections: ")
    # Closing one draft frees its place for the refused one, on the same socket.
    await client.close_doc(docs[0])
    await client.close_doc(docs[2])
    await hub.wait_metric("tongpin_sessions", lambda v: v == 1, "one session left")
    await client.open(docs[2], token)
    state = await client.wait_doc("authenticated", docs[2], "read-write")
    assert state["connections"] == 1
