"""Tiptap's collaboration extension on the Hocuspocus provider, headless in Node (happy-dom).

Two editors, each in its own process, co-edit one draft in Chinese; what
one types appears in the other's editor, the provider reports every change
stored, and the store holds the ProseMirror document (``Y.XmlFragment``
"default") with both paragraphs. A y-websocket Tiptap app and this one meet
on the same draft the same way, since both speak to the same ``Draft``.
"""

from __future__ import annotations

import pytest
from pycrdt import XmlFragment

from tests.hocuspocus.conftest import ROOM, AuthHub
from tests.hocuspocus.hpclient import HocusClient
from tests.integration.helpers import stored_doc
from tests.integration.node_client import JS_DIR

pytestmark = pytest.mark.node

TIPTAP = JS_DIR / "tiptap.mjs"


async def test_two_tiptap_editors_co_edit_through_hocuspocus(auth_hub: AuthHub, hp_node: str) -> None:
    for package in ("@tiptap/core", "@tiptap/extension-collaboration", "happy-dom"):
        assert (JS_DIR / "node_modules" / package / "package.json").exists(), f"npm ci in tests/js: {package}"
    doc = f"{ROOM}/tiptap"
    editors = [await HocusClient.start_driver(hp_node, f"tiptap#{i}", driver=TIPTAP) for i in range(2)]
    try:
        a, b = editors
        await a.call("open", url=auth_hub.url, doc=doc, token=auth_hub.token("dgdaily-editor"))
        await b.call("open", url=auth_hub.url, doc=doc, token=auth_hub.token("humen-reporter"))
        for editor in editors:
            state = await editor.call("wait", what="synced", timeout=10, within=10)
            assert state["scope"] == "read-write"

        await a.call("type", text="台风“海葵”今晨登陆")
        await b.call("wait", what="text", value="台风“海葵”今晨登陆", timeout=10, within=10)
        await b.call("paragraph", text="全市启动防风Ⅳ级应急响应𠮷")
        expected = "台风“海葵”今晨登陆\n\n全市启动防风Ⅳ级应急响应𠮷"
        await a.call("wait", what="text", value=expected, timeout=10, within=10)
        for editor in editors:
            await editor.call("wait", what="unsynced", value=0, timeout=10, within=10)
        html = (await a.call("report"))["html"]
        assert html == "<p>台风“海葵”今晨登陆</p><p>全市启动防风Ⅳ级应急响应𠮷</p>"
    finally:
        for editor in editors:
            await editor.close()

    stored = await stored_doc(auth_hub.proc.sqlite_path, ROOM, "tiptap")
    fragment = str(stored.get("default", type=XmlFragment))
    assert fragment == "<paragraph>台风“海葵”今晨登陆</paragraph><paragraph>全市启动防风Ⅳ级应急响应𠮷</paragraph>"
