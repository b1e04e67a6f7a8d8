"""Edits typed offline survive closing the tab: the draft's Y.Doc is kept in
the browser's IndexedDB and reaches the hub when a new tab opens it online.

The hub cannot have the text before the new tab connects (the only copy was
typed while the browser was offline), so another person seeing it afterwards
proves the browser's copy was loaded and sent. The new tab's draft socket is
held back at first (Playwright's WebSocket routing answers it without the
hub), which shows the restored text and the restored pending count before
anything is synced.
"""

from __future__ import annotations

import re
import uuid
from pathlib import Path
from typing import Any

from playwright.async_api import expect

from tests.conftest import HubProcess
from tests.web.conftest import WAIT_MS, open_signed_in, sign_in
from tests.web.test_coedit import SESSION, doc_text, open_draft, type_at_end

DRAFT_SOCKET = re.compile(r"/yjs/")


async def test_offline_edits_survive_closing_the_tab(web_hub: HubProcess, browser: Any, shots: Path) -> None:
    draft = f"web-offline-{uuid.uuid4().hex[:8]}"
    writer = await open_signed_in(browser, web_hub, "humen-editor")
    reader = await open_signed_in(browser, web_hub, "dgdaily-editor")
    await open_draft(writer, draft)
    reader_editor = await open_draft(reader, draft)
    await type_at_end(writer, "在线：虎门大桥恢复通行。")
    await expect(reader_editor).to_contain_text("虎门大桥恢复通行", timeout=WAIT_MS)

    # Offline: the edits are counted as pending and written to the browser's copy.
    context = writer.context
    await context.set_offline(True)
    indicator = writer.locator(".conn")
    await expect(indicator).to_have_attribute("data-state", "offline", timeout=WAIT_MS)
    offline_text = "离线补记：威远炮台周边封闭至明早六点。"
    await type_at_end(writer, offline_text)
    await expect(indicator).not_to_have_attribute("data-pending", "0", timeout=WAIT_MS)
    pending = await indicator.get_attribute("data-pending")
    await expect(indicator).to_have_attribute("data-kept", pending or "", timeout=WAIT_MS)
    await expect(indicator).to_contain_text("已存于本机")
    await writer.screenshot(path=str(shots / "offline-kept.png"), full_page=True)

    # The tab is closed before the browser comes back; the hub never saw the text.
    await writer.close()
    await context.set_offline(False)
    assert "威远炮台" not in await doc_text(reader)

    # A new tab of the same browser, its draft socket held back: the text and the count come from IndexedDB.
    let_through = False
    held: list[Any] = []

    def route(ws: Any) -> None:
        if let_through:
            ws.connect_to_server()
        else:
            held.append(ws)  # open, but nothing answers: the provider waits for the hub's sync

    reopened = await context.new_page()
    await reopened.route_web_socket(DRAFT_SOCKET, route)
    await sign_in(reopened, web_hub, "humen-editor")
    await reopened.goto(f"{web_hub.http}/#/s/{SESSION}/{draft}")
    editor = reopened.locator(".ProseMirror")
    await expect(editor).to_contain_text("威远炮台周边封闭", timeout=WAIT_MS)
    await expect(editor).to_contain_text("虎门大桥恢复通行")
    indicator = reopened.locator(".conn")
    await expect(indicator).to_have_attribute("data-pending", pending or "", timeout=WAIT_MS)
    await expect(indicator).to_contain_text(f"{pending} 处")
    await reopened.screenshot(path=str(shots / "reopened-restored.png"), full_page=True)
    assert held, "the draft socket was not routed"
    assert "威远炮台" not in await doc_text(reader)

    # Let the socket through: the restored edits are sent, stored, and reach the other person.
    let_through = True
    for ws in held:
        await ws.close(code=1012, reason="let through")  # service restart: reconnect
    await expect(indicator).to_have_attribute("data-state", "connected", timeout=WAIT_MS)
    await expect(indicator).to_have_attribute("data-pending", "0", timeout=WAIT_MS)
    await expect(reader_editor).to_contain_text(offline_text, timeout=WAIT_MS)
    await reader.screenshot(path=str(shots / "reader-received.png"), full_page=True)

    # A third person loading the draft afresh from the hub sees it too.
    fresh = await open_signed_in(browser, web_hub, "humen-reporter")
    await expect(await open_draft(fresh, draft)).to_contain_text(offline_text, timeout=WAIT_MS)
    assert reopened.errors == [] and reader.errors == [] and fresh.errors == []


async def test_page_reloads_offline_from_the_app_shell_with_the_kept_draft(
    web_hub: HubProcess, browser: Any, shots: Path
) -> None:
    """The service worker caches the built page: with the hub gone and the browser offline, a reload shows
    the page, signed in as before, with the draft's text from this browser's copy and its pending count."""
    draft = f"web-reload-{uuid.uuid4().hex[:8]}"
    page = await open_signed_in(browser, web_hub, "humen-editor")
    # The worker is installed (the shell cached) and controls the page.
    await page.wait_for_function("navigator.serviceWorker.controller !== null", timeout=WAIT_MS)
    await open_draft(page, draft)
    await type_at_end(page, "在线：东江大堤加固完成。")
    indicator = page.locator(".conn")
    await expect(indicator).to_have_attribute("data-pending", "0", timeout=WAIT_MS)
    await page.context.set_offline(True)
    offline_text = "离线补记：石龙镇沿江路段封闭。"
    await type_at_end(page, offline_text)
    await expect(indicator).not_to_have_attribute("data-pending", "0", timeout=WAIT_MS)
    pending = await indicator.get_attribute("data-pending")
    await expect(indicator).to_have_attribute("data-kept", pending or "", timeout=WAIT_MS)

    # Nothing can come from the network now: the hub is gone as well.
    await web_hub.sigterm()
    await page.reload()
    editor = page.locator(".ProseMirror")
    await expect(editor).to_contain_text(offline_text, timeout=WAIT_MS)
    await expect(editor).to_contain_text("东江大堤加固完成")
    await expect(page.locator(".who .me")).to_be_visible()
    await expect(indicator).to_have_attribute("data-state", "offline")
    await expect(indicator).to_have_attribute("data-pending", pending or "", timeout=WAIT_MS)
    await page.screenshot(path=str(shots / "reloaded-offline.png"), full_page=True)
    # The worker never answers for the API: it fails as the network does.
    status = await page.evaluate("fetch('/api/me').then(r => r.status, () => 'network error')")
    assert status == "network error"
    assert page.errors == []
