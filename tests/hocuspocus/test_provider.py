"""The unmodified npm ``@hocuspocus/provider`` (4.x and 3.x) on ``WS /hocuspocus``.

One socket carries several drafts; tokens travel in-band; the scope answer
follows the user's role; sync status 1 comes only once the update is in the
store; a user outside the planning session is refused per document while
the socket and its other documents go on.
"""

from __future__ import annotations

import pytest

from tests.conftest import HubFactory
from tests.hocuspocus.conftest import ROOM, AuthHub, HocusFactory
from tests.integration.helpers import doc_text, stored_doc
from tests.live.helpers import mint
from tests.ypy_client import YClient

pytestmark = pytest.mark.node

VERSIONS = ["v4", "v3"]


@pytest.mark.parametrize("version", VERSIONS)
async def test_two_drafts_on_one_socket_with_chinese_text(
    auth_hub: AuthHub, hp_clients: HocusFactory, version: str
) -> None:
    a, b = f"{ROOM}/{version}-brief", f"{ROOM}/{version}-plan"
    client = await hp_clients("editor", version)
    await client.socket(auth_hub.url)
    token = auth_hub.token("dgdaily-editor")
    await client.open(a, token)
    await client.open(b, token)
    for doc in (a, b):
        assert (await client.wait_doc("authenticated", doc, "read-write"))["doc"]["scope"] == "read-write"
        await client.wait_doc("synced", doc)

    await client.insert_into(a, 0, "台风“海葵”登陆𠮷")
    await client.insert_into(b, 0, "同频：联合报道")
    await client.delete_from(b, 2, 1)

    # Each document went to its own draft, as a /yjs client of the same draft sees it.
    readers = [YClient(auth_hub.yjs_url(f"{version}-{name}", "humen-viewer")) for name in ("brief", "plan")]
    for reader in readers:
        await reader.connect()
    await readers[0].wait_text("台风“海葵”登陆𠮷")
    await readers[1].wait_text("同频联合报道")
    for reader in readers:
        await reader.close()

    # Edits from /yjs reach the provider, on the right document only.
    writer = YClient(auth_hub.yjs_url(f"{version}-plan", "humen-editor"))
    await writer.connect()
    await writer.wait_synced()
    writer.insert(0, "【快讯】")
    await client.wait_doc("text", b, "【快讯】同频联合报道")
    assert await client.doc_text(a) == "台风“海葵”登陆𠮷"
    await writer.close()

    # Sync status: the provider counts nothing unsynced once the hub has stored every update.
    for doc in (a, b):
        await client.wait_doc("unsynced", doc, 0)
    stored = await stored_doc(auth_hub.proc.sqlite_path, ROOM, f"{version}-brief")
    assert doc_text(stored) == "台风“海葵”登陆𠮷"


async def test_sync_status_comes_after_the_store_has_the_update(auth_hub: AuthHub, hp_clients: HocusFactory) -> None:
    doc = f"{ROOM}/stored"
    client = await hp_clients("writer")
    await client.socket(auth_hub.url)
    await client.open(doc, auth_hub.token("dgdaily-reporter"))
    await client.wait_doc("synced", doc)
    await client.wait_doc("unsynced", doc, 0)
    for i in range(5):
        typed = f"第{i}稿"
        before = await client.doc_text(doc)
        sent = await client.insert_into(doc, len(before), typed)
        assert sent["doc"]["unsynced"] == 1, "one update waits for its sync status"
        await client.wait_doc("unsynced", doc, 0)
        # Reported stored: the store must have it now, not later.
        stored = doc_text(await stored_doc(auth_hub.proc.sqlite_path, ROOM, "stored"))
        assert stored == before + typed


async def test_read_only_user_gets_readonly_scope_and_changes_nothing(
    auth_hub: AuthHub, hp_clients: HocusFactory
) -> None:
    doc = f"{ROOM}/readonly"
    editor = await hp_clients("editor")
    viewer = await hp_clients("viewer")
    for client, user in ((editor, "dgdaily-editor"), (viewer, "humen-viewer")):
        await client.socket(auth_hub.url)
        await client.open(doc, auth_hub.token(user))
    await editor.wait_doc("authenticated", doc, "read-write")
    await viewer.wait_doc("authenticated", doc, "readonly")
    await editor.insert_into(doc, 0, "编辑稿")
    await viewer.wait_doc("text", doc, "编辑稿")
    # The viewer's own empty sync answer counts as settled: nothing was refused yet.
    await viewer.wait_doc("unsynced", doc, 0)

    await viewer.insert_into(doc, 0, "越权")
    # Refused (sync status 0): it stays unsynced in the viewer, and nobody else ever sees it.
    await editor.insert_into(doc, 3, "。")
    await viewer.wait_doc("text", doc, "越权编辑稿。")
    await editor.wait_doc("text", doc, "编辑稿。")
    assert (await viewer.doc(doc))["unsynced"] == 1
    check = YClient(auth_hub.yjs_url("readonly", "dgdaily-chief"))
    await check.connect()
    await check.wait_synced()
    assert check.content() == "编辑稿。"
    await check.close()
    stored = await stored_doc(auth_hub.proc.sqlite_path, ROOM, "readonly")
    assert doc_text(stored) == "编辑稿。"


async def test_refused_documents_leave_the_socket_and_its_other_documents_alone(
    auth_hub: AuthHub, hp_clients: HocusFactory
) -> None:
    client = await hp_clients("outsider")
    await client.socket(auth_hub.url)
    outsider = auth_hub.token("wanjiang-editor")  # wanjiang owns dragon-boat and is not in typhoon-drill
    await client.open(f"{ROOM}/secret", outsider)
    denied = await client.wait_doc("denied", f"{ROOM}/secret")
    assert denied["doc"]["denied"][0].startswith("forbidden: ")
    assert denied["doc"]["scope"] is None

    await client.open(f"{ROOM}/forged", auth_hub.token("dgdaily-editor") + "x")
    forged = await client.wait_doc("denied", f"{ROOM}/forged")
    assert forged["doc"]["denied"][0].startswith("token_invalid: ")
    await client.open(f"{ROOM}/nobody", "")
    missing = await client.wait_doc("denied", f"{ROOM}/nobody")
    assert missing["doc"]["denied"][0].startswith("token_missing: ")

    # The refused provider goes on typing; the hub drops it, and the socket stays up.
    await client.insert_into(f"{ROOM}/secret", 0, "不该写入")

    # The same user's own planning session opens fine on the same socket.
    await client.open("dragon-boat/local", outsider)
    assert (await client.wait_doc("authenticated", "dragon-boat/local", "read-write"))["closes"] == []
    await client.insert_into("dragon-boat/local", 0, "龙舟")
    await client.wait_doc("unsynced", "dragon-boat/local", 0)
    assert (await client.report())["connections"] == 1

    check = YClient(auth_hub.yjs_url("secret", "dgdaily-chief"))
    await check.connect()
    await check.wait_synced()
    assert check.content() == ""
    await check.close()


async def test_v4_providers_get_connection_level_pings(auth_hub: AuthHub, hp_clients: HocusFactory) -> None:
    client = await hp_clients("quiet")
    await client.socket(auth_hub.url)
    await client.open(f"{ROOM}/quiet", auth_hub.token("dgdaily-editor"))
    await client.wait_doc("synced", f"{ROOM}/quiet")
    state = await client.wait_doc("pings", f"{ROOM}/quiet", 3, within=15)
    assert state["connections"] == 1, "pings keep the provider's socket; it never reconnected"
    assert state["closes"] == []


async def test_v3_providers_without_awareness_are_kept_alive(auth_hub: AuthHub, hp_clients: HocusFactory) -> None:
    # 3.x knows no ping and, with awareness off, sends nothing while idle: only the hub's keepalive frames
    # (addressed to no document) keep its silence check (here 3 s instead of 30 s) from reconnecting.
    client = await hp_clients("silent", "v3")
    await client.socket(auth_hub.url, silence_ms=3000)
    doc = f"{ROOM}/silent"
    await client.open(doc, auth_hub.token("dgdaily-editor"), awareness=False)
    await client.wait_doc("synced", doc)
    state = await client.wait_doc("keepalives", doc, 8, within=20)
    assert state["connections"] == 1 and state["closes"] == [], "the idle provider never reconnected"
    assert state["pings"] == 0, "3.x gets no connection-level ping, which it cannot read"
    await client.insert_into(doc, 0, "静默之后")
    await client.wait_doc("unsynced", doc, 0)


async def test_one_user_per_socket_and_the_asgi_send_path(hub_factory: HubFactory, hp_clients: HocusFactory) -> None:
    # Without the raw-write extension every frame goes through ASGI send, one writer task per socket.
    hub = hub_factory(env={"TONGPIN_AUTH": "required", "TONGPIN_RAW_WS": "false", "TONGPIN_PING_INTERVAL": "1"})
    client = await hp_clients("asgi")
    await client.socket(f"ws://127.0.0.1:{hub.port}/hocuspocus")
    mine, other = f"{ROOM}/asgi", f"{ROOM}/asgi-other"
    await client.open(mine, mint(hub.data_dir, "dgdaily-editor"))
    await client.wait_doc("authenticated", mine, "read-write")
    await client.open(other, mint(hub.data_dir, "humen-editor"))
    denied = await client.wait_doc("denied", other)
    assert denied["doc"]["denied"] == ["forbidden: every document on one connection is opened by the same user"]

    await client.wait_doc("synced", mine)
    await client.insert_into(mine, 0, "经由ASGI发送")
    await client.wait_doc("unsynced", mine, 0)
    await client.wait_doc("pings", mine, 2)
    reader = YClient(hub.ws_url(ROOM, "asgi", token=mint(hub.data_dir, "dgrtv-viewer")))
    await reader.connect()
    await reader.wait_text("经由ASGI发送")
    await reader.close()


async def test_session_aware_providers_carry_one_draft_twice_on_one_socket(
    auth_hub: AuthHub, hp_clients: HocusFactory
) -> None:
    client = await hp_clients("twice")
    await client.socket(auth_hub.url)
    doc, token = f"{ROOM}/twice", auth_hub.token("dgdaily-editor")
    await client.open(doc, token, as_="first", sessions=True)
    await client.open(doc, token, as_="second", sessions=True)
    for handle in ("first", "second"):
        await client.wait_doc("authenticated", handle, "read-write")
        await client.wait_doc("synced", handle)
    await client.insert_into("first", 0, "一稿")
    await client.wait_doc("text", "second", "一稿")
    await client.insert_into("second", 2, "两投")
    await client.wait_doc("text", "first", "一稿两投")
    first = await client.awareness("first", {"user": "甲"})
    second = await client.doc("second")
    ids = [str(first["doc"]["clientID"]), str(second["clientID"])]
    await client.wait_doc("awareness", "second", ids)
    for handle in ("first", "second"):
        await client.wait_doc("unsynced", handle, 0)
