"""Rights that end for one document end that document alone, on one shared ``/hocuspocus`` socket.

The unmodified providers (4.x and 3.x) take the hub's close message for a
document as that document's ``close`` event (code 1000, the hub's reason):
they mark it unauthenticated and drop the other users' carets, while the
socket and the other documents on it go on. The app then attaches the
provider again and gets the rights it has now: read-only after its planning
session closed, refused once its unit left the session or its token
expired.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from tests.conftest import HubFactory, HubProcess
from tests.hocuspocus.conftest import ROOM, HocusFactory
from tests.hocuspocus.hpclient import HocusClient
from tests.integration.helpers import doc_text, stored_doc
from tests.live.helpers import mint
from tests.workflow.client import Api
from tests.ypy_client import YClient

pytestmark = pytest.mark.node

USER = "changan-editor"  # changan is a member of typhoon-drill, the draft that stays open
STEADY = f"{ROOM}/steady"


@pytest.fixture
async def hub(hub_factory: HubFactory) -> AsyncIterator[tuple[HubProcess, Api]]:
    proc = hub_factory(env={"TONGPIN_AUTH": "required", "TONGPIN_PING_INTERVAL": "1"})
    api = Api(proc.http)
    try:
        yield proc, api
    finally:
        await api.close()


async def planning_session(api: Api, sid: str) -> None:
    """An open planning session of dgdaily with changan as a member."""
    body = {"title": "单稿关闭", "member_units": ["changan"], "id": sid}
    await api.ok("POST", "/api/sessions", "dgdaily-editor", 201, json=body)
    await api.ok("POST", f"/api/sessions/{sid}/open", "dgdaily-editor")


async def two_drafts(proc: HubProcess, client: HocusClient, revoked: str, token: str) -> None:
    """``revoked`` and ``STEADY`` on the client's one socket, both writable and synced."""
    await client.socket(f"ws://127.0.0.1:{proc.port}/hocuspocus")
    await client.open(revoked, token, reattach=True)
    await client.open(STEADY, mint(proc.data_dir, USER))
    for doc in (revoked, STEADY):
        await client.wait_doc("authenticated", doc, "read-write")
        await client.wait_doc("synced", doc)


async def steady_goes_on(proc: HubProcess, client: HocusClient, text: str) -> None:
    """The other draft still syncs both ways, on the socket it always had."""
    before = await client.doc_text(STEADY)
    await client.insert_into(STEADY, len(before), text)
    await client.wait_doc("unsynced", STEADY, 0)
    other = YClient(proc.ws_url(ROOM, "steady", token=mint(proc.data_dir, "dgdaily-editor")))
    await other.connect()
    await other.wait_text(before + text)
    other.insert(0, "【回】")
    await client.wait_doc("text", STEADY, "【回】" + before + text)
    await other.close()
    state = await client.report()
    assert state["connections"] == 1 and state["closes"] == [], "the socket itself never closed"


@pytest.mark.parametrize("version", ["v4", "v3"])
async def test_a_closed_session_ends_its_draft_alone_and_it_comes_back_read_only(
    hub: tuple[HubProcess, Api], hp_clients: HocusFactory, version: str
) -> None:
    proc, api = hub
    sid = f"hp-close-{version}"
    await planning_session(api, sid)
    doc = f"{sid}/main"
    client = await hp_clients("closing", version)
    await two_drafts(proc, client, doc, mint(proc.data_dir, USER))
    await client.insert_into(doc, 0, "关门前")
    await client.wait_doc("unsynced", doc, 0)

    await api.ok("POST", f"/api/sessions/{sid}/close", "dgdaily-editor")
    ended = await client.wait_doc("ended", doc, "rights_changed: ")
    assert ended["doc"]["closes"][0]["code"] == 1000
    # The app attached the provider again: the same token now opens the draft read-only.
    await client.wait_doc("authenticated", doc, "readonly")
    await client.wait_doc("synced", doc)
    await steady_goes_on(proc, client, "照常")

    # Its edits are refused now; the steady draft's later update is stored, so the hub has read this one.
    await client.insert_into(doc, 0, "越权")
    await steady_goes_on(proc, client, "。")
    assert doc_text(await stored_doc(proc.sqlite_path, sid, "main")) == "关门前"


async def test_a_unit_removed_from_the_session_is_refused_on_that_draft_only(
    hub: tuple[HubProcess, Api], hp_clients: HocusFactory
) -> None:
    proc, api = hub
    sid = "hp-members"
    await planning_session(api, sid)
    doc = f"{sid}/main"
    client = await hp_clients("removed")
    await two_drafts(proc, client, doc, mint(proc.data_dir, USER))
    watcher = YClient(proc.ws_url(sid, "main", token=mint(proc.data_dir, "dgdaily-editor")))
    await watcher.connect()
    await watcher.wait_synced()
    mine = (await client.awareness(doc, {"user": "长安"}))["doc"]["clientID"]
    await watcher.set_awareness({"user": "莞报"})
    await client.wait_doc("awareness", doc, [str(mine), str(watcher.client_id)])
    await watcher.wait_for(lambda: mine in watcher.present(), "the provider's caret arrives")

    await api.ok("DELETE", f"/api/sessions/{sid}/members/changan", "dgdaily-editor")
    ended = await client.wait_doc("ended", doc, "forbidden: ")
    assert "no longer a member" in ended["doc"]["closes"][0]["reason"]
    denied = await client.wait_doc("denied", doc)
    assert denied["doc"]["denied"][-1].startswith("forbidden: ")
    # The provider dropped the others' carets; the others lost its caret.
    assert list(denied["doc"]["awareness"]) == [str(denied["doc"]["clientID"])]
    await watcher.wait_for(lambda: mine not in watcher.present(), "the removed user's caret is gone")
    await client.insert_into(doc, 0, "不该写入")  # dropped by the hub; the socket stays
    await steady_goes_on(proc, client, "仍在")
    await watcher.close()
    assert doc_text(await stored_doc(proc.sqlite_path, sid, "main")) == ""


async def test_an_expiring_token_ends_its_draft_alone(hub: tuple[HubProcess, Api], hp_clients: HocusFactory) -> None:
    proc, _ = hub
    doc = f"{ROOM}/expiring"
    client = await hp_clients("expiring")
    await two_drafts(proc, client, doc, mint(proc.data_dir, USER, ttl=3))
    ended = await client.wait_doc("ended", doc, "auth_expired: ", within=10)
    assert ended["doc"]["closes"][0]["reason"] == "auth_expired: token expired: authenticate again"
    # Attached again with the same token: refused; with a new one: open again, on the same socket.
    denied = await client.wait_doc("denied", doc)
    assert denied["doc"]["denied"][-1].startswith("token_expired: ")
    await steady_goes_on(proc, client, "续")
    await client.reattach(doc, mint(proc.data_dir, USER))
    await client.wait_doc("authenticated", doc, "read-write")
    await client.insert_into(doc, 0, "新令牌")
    await client.wait_doc("unsynced", doc, 0)
    assert doc_text(await stored_doc(proc.sqlite_path, ROOM, "expiring")) == "新令牌"
    assert (await client.report())["connections"] == 1
