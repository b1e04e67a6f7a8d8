"""Pins, reopening, versions, diffs and restores, with a real y-websocket client (pycrdt) editing.

The hub runs in this process (``tests.live.helpers.hub_in_process``) on a
real port; the client speaks the y-websocket protocol over a real socket.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from pycrdt import Doc, Text, XmlElement, XmlFragment, XmlText

from rooms.doc_text import document_text
from rooms.store import DraftKey
from tests.live.helpers import InProcessNode, hub_in_process
from tests.review.helpers import AUTHOR, REVIEWERS, Desk, backend, desk_for, eventually
from tests.ypy_client import YClient

pytestmark = pytest.mark.timeout(90)


async def editor(node: InProcessNode, desk: Desk, path: str, user: str = AUTHOR) -> YClient:
    client = YClient(f"ws://127.0.0.1:{node.port}/yjs/{path}?token={await desk.token(user)}&stored=1")
    await client.connect()
    await client.wait_synced()
    return client


async def stale(desk: Desk, path: str) -> dict[str, Any] | None:
    review = await desk.get(path, "review")
    return review if review["review"]["stale"] else None


async def reopened_events(node: InProcessNode, path: str) -> list[dict[str, Any]]:
    import orjson

    session, name = path.split("/")
    history = await node.hub.live.store.read(f"room:{session}", 0, 10_000)
    return [
        orjson.loads(e.data)
        for e in history.events
        if e.type == "review.reopened" and orjson.loads(e.data)["draft"] == name
    ]


@pytest.mark.parametrize("store", ["sqlite", "postgres"])
async def test_an_edit_after_the_pin_reopens_the_step(tmp_path: Path, store: str) -> None:
    async with backend(store) as overrides, hub_in_process(tmp_path, **overrides) as node, desk_for(node.http) as desk:
        path = await desk.new_draft()
        client = await editor(node, desk, path)
        client.insert(0, "台风“海燕”今晚登陆\n")
        await client.wait_all_stored()
        submitted = await desk.ok(AUTHOR, "POST", f"/api/sessions/{path.replace('/', '/drafts/')}/submit", json={})
        first = submitted["version"]
        assert (await desk.get(path, f"versions/{first}"))["text"] == "台风“海燕”今晚登陆\n"

        client.insert(len(client.content()), "请市民做好防御\n")  # an edit after the pin
        review = await eventually(lambda: stale(desk, path), "the review marked stale")
        assert review["allowed"] == ["pin", "return", "reject"] and review["review"]["status"] == "submitted"
        [event] = await reopened_events(node, path)
        assert (event["status"], event["stale"], event["actor"], event["pin"]) == ("submitted", True, None, first)

        refused = await desk.step(path, REVIEWERS[1], "review", {"decision": "pass"})
        error = refused.json()["error"]
        assert refused.status_code == 409 and error["code"] == "pin_stale", refused.text
        assert error["state"] == "submitted" and error["allowed"] == ["pin", "return", "reject"]
        assert "changed after it was pinned" in error["message"]

        repinned = await desk.ok(AUTHOR, "POST", f"/api/sessions/{path.replace('/', '/drafts/')}/pin", json={})
        second = repinned["version"]
        assert repinned["review"] == repinned["review"] | {"status": "submitted", "pin": second, "stale": False}
        diff = await desk.get(path, "diff", **{"from": first, "to": second})
        assert diff["added"] == 1 and diff["removed"] == 0
        assert diff["changes"] == [
            {"op": "insert", "old": [1, 1], "new": [1, 2], "removed": [], "added": ["请市民做好防御"]}
        ]
        assert "+请市民做好防御" in diff["unified"]
        passed = await desk.step(path, REVIEWERS[1], "review", {"decision": "pass", "pin": second})
        assert passed.status_code == 200 and passed.json()["review"]["status"] == "level_2", passed.text

        # A pure deletion moves no state vector, and reopens the step all the same.
        client.delete(0, 2)
        await eventually(lambda: stale(desk, path), "a deletion to reopen the step")
        assert len(await reopened_events(node, path)) == 2
        assert (await desk.step(path, REVIEWERS[2], "review", {"decision": "pass"})).status_code == 409
        versions = (await desk.get(path, "versions"))["items"]
        assert [(v["kind"], v["status"], v["level"]) for v in versions] == [
            ("pin", "submitted", 1),
            ("pin", "submitted", 1),
            ("pin", "level_2", 2),
        ]
        await client.close()


async def test_a_decision_finds_an_edit_no_node_reported(tmp_path: Path) -> None:
    """The draft is not open here; an update another node stored is found in the store at decision time."""
    async with hub_in_process(tmp_path, workers="none") as node, desk_for(node.http) as desk:
        path = await desk.new_draft()
        await desk.walk(path, "submitted")
        doc: Doc[Any] = Doc()
        doc.get("t", type=Text).insert(0, "另一个节点写的")
        await node.hub.store.append([(DraftKey(*path.split("/")), doc.get_update())])
        refused = await desk.step(path, REVIEWERS[1], "review", {"decision": "pass"})
        assert refused.status_code == 409 and refused.json()["error"]["code"] == "pin_stale", refused.text
        assert (await desk.get(path, "review"))["review"]["stale"] is True
        assert len(await reopened_events(node, path)) == 1
        pinned = await desk.ok(AUTHOR, "POST", f"/api/sessions/{path.replace('/', '/drafts/')}/pin", json={})
        assert (await desk.get(path, f"versions/{pinned['version']}"))["text"] == "另一个节点写的"
        assert (await desk.step(path, REVIEWERS[1], "review", {"decision": "pass"})).status_code == 200


async def test_versions_hold_the_text_of_a_prosemirror_document_and_restore(tmp_path: Path) -> None:
    async with hub_in_process(tmp_path, workers="none") as node, desk_for(node.http) as desk:
        path = await desk.new_draft("龙舟赛报道")
        client = await editor(node, desk, path)
        fragment = client.doc.get("default", type=XmlFragment)  # what Tiptap binds
        fragment.children.append(XmlElement("heading", {"level": "1"}, [XmlText("龙舟赛今日开锣")]))
        body = XmlText()
        fragment.children.append(XmlElement("paragraph", {}, [body]))
        body.insert(0, "万江")
        body.insert(len(body), "龙舟", {"bold": {}})
        body.insert(len(body), "赛吸引数万人。")
        fragment.children.append(
            XmlElement("paragraph", {}, [XmlText("第二段"), XmlElement("hardBreak"), XmlText("换行")])
        )
        await client.wait_all_stored()
        submitted = await desk.ok(AUTHOR, "POST", f"/api/sessions/{path.replace('/', '/drafts/')}/submit", json={})
        pinned = await desk.get(path, f"versions/{submitted['version']}")
        assert pinned["text"] == "龙舟赛今日开锣\n万江龙舟赛吸引数万人。\n第二段\n换行"
        fragment.children.append(XmlElement("paragraph", {}, [XmlText("补记")]))
        await client.wait_all_stored()
        diff = await desk.get(path, "diff", **{"from": submitted["version"], "to": "current"})
        assert [c["added"] for c in diff["changes"]] == [["补记"]]

        session, name = path.split("/")
        restore = f"/api/sessions/{session}/drafts/{name}/versions/{submitted['version']}/restore"
        created = await desk.ok(AUTHOR, "POST", restore, json={"name": "restored1"})
        assert (
            created["name"] == "restored1" and created["lead_unit"] == "humen" and created["title"] == "龙舟赛报道 (v1)"
        )
        assert created["restored_from"] == {"session": session, "draft": name, "version": submitted["version"]}
        assert created["review"]["status"] == "editing"
        copy = await editor(node, desk, f"{session}/restored1")
        assert document_text(copy.doc.get_update()) == pinned["text"]  # the version, without the later 补记
        again = await desk.call(AUTHOR, "POST", restore, json={"name": "restored1"})
        assert again.status_code == 409 and again.json()["error"]["code"] == "conflict", again.text
        outsider = await desk.call("wanjiang-editor", "POST", restore, json={})
        assert outsider.status_code == 404
        assert (await desk.call(AUTHOR, "POST", restore.replace("/1/", "/99/"), json={})).status_code == 404
        assert (await desk.call(AUTHOR, "POST", restore, json={"title": ""})).status_code == 422
        await client.close()
        await copy.close()
