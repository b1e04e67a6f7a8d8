"""Version history in the browser: any two versions (or the document now)
compared line by line, and an old version restored as a new draft that
opens with that version's text."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
from playwright.async_api import expect

from tests.conftest import HubProcess
from tests.web.conftest import WAIT_MS, open_signed_in, token_for
from tests.web.test_coedit import doc_text, type_at_end

SESSION = "typhoon-drill"  # owner dgdaily


async def review_step(hub: HubProcess, user: str, path: str) -> None:
    token = await token_for(hub, user)
    async with httpx.AsyncClient(base_url=hub.http, timeout=10) as client:
        answer = await client.post(path, json={}, headers={"Authorization": f"Bearer {token}"})
    assert answer.status_code in (200, 201), answer.text


async def test_compare_two_versions_and_restore_one(web_hub: HubProcess, browser: Any, shots: Path) -> None:
    token = await token_for(web_hub, "dgdaily-editor")
    async with httpx.AsyncClient(base_url=web_hub.http, timeout=10) as client:
        answer = await client.post(
            f"/api/sessions/{SESSION}/drafts",
            json={"title": "防风快讯", "lead_unit": "dgdaily"},
            headers={"Authorization": f"Bearer {token}"},
        )
    assert answer.status_code == 201, answer.text
    draft = answer.json()["name"]
    base = f"/api/sessions/{SESSION}/drafts/{draft}"

    page = await open_signed_in(browser, web_hub, "dgdaily-editor")
    await page.goto(f"{web_hub.http}/#/s/{SESSION}/{draft}")
    await expect(page.locator(".conn")).to_have_attribute("data-state", "connected", timeout=WAIT_MS)
    indicator = page.locator(".conn")
    await page.locator(".ProseMirror").click()
    await page.keyboard.insert_text("第一段：全市停课。")
    await expect(indicator).to_have_attribute("data-pending", "0", timeout=WAIT_MS)
    await review_step(web_hub, "dgdaily-editor", f"{base}/submit")  # version 1 (the pin)
    await type_at_end(page, "第二段：地铁停运。")
    await expect(indicator).to_have_attribute("data-pending", "0", timeout=WAIT_MS)
    await review_step(web_hub, "dgdaily-editor", f"{base}/pin")  # version 2
    await type_at_end(page, "第三段：机场延误。")
    await expect(indicator).to_have_attribute("data-pending", "0", timeout=WAIT_MS)

    panel = page.locator("#review")
    await expect(panel.locator("[data-version]")).to_have_count(2, timeout=WAIT_MS)
    first, second = [await row.get_attribute("data-version") for row in await panel.locator("[data-version]").all()]

    # Version 1 against version 2: one line added, none removed.
    await panel.get_by_label("从", exact=True).select_option(first)
    await panel.get_by_label("到", exact=True).select_option(second)
    await panel.get_by_role("button", name="比较").click()
    summary = panel.locator(".diff-summary")
    await expect(summary).to_have_attribute("data-added", "1", timeout=WAIT_MS)
    await expect(summary).to_have_attribute("data-removed", "0")
    await expect(panel.locator(".diff ins")).to_have_text("新增：+第二段：地铁停运。")
    await expect(panel.locator(".diff del")).to_have_count(0)

    # Version 2 against the document now: the third paragraph.
    await panel.get_by_label("从", exact=True).select_option(second)
    await panel.get_by_label("到", exact=True).select_option("current")
    await panel.get_by_role("button", name="比较").click()
    await expect(panel.locator(".diff ins")).to_have_text("新增：+第三段：机场延误。", timeout=WAIT_MS)
    # The other way round, the same line is removed.
    await panel.get_by_label("从", exact=True).select_option("current")
    await panel.get_by_label("到", exact=True).select_option(second)
    await panel.get_by_role("button", name="比较").click()
    await expect(panel.locator(".diff del")).to_have_text("删除：-第三段：机场延误。", timeout=WAIT_MS)
    await page.screenshot(path=str(shots / "diff.png"), full_page=True)

    # Restore version 1 as a new draft: the page opens it, with version 1's text only.
    await panel.get_by_role("button", name=f"将版本 {first} 恢复为新稿").click()
    await expect(page).not_to_have_url(f"{web_hub.http}/#/s/{SESSION}/{draft}", timeout=WAIT_MS)
    editor = page.locator(".ProseMirror")
    await expect(editor).to_contain_text("第一段：全市停课。", timeout=WAIT_MS)
    await expect(page.locator(".conn")).to_have_attribute("data-state", "connected", timeout=WAIT_MS)
    assert await doc_text(page) == "第一段：全市停课。"
    restored = page.url.rsplit("/", 1)[-1]
    assert restored != draft
    await expect(page.locator("#drafts a[aria-current=page]")).to_be_visible(timeout=WAIT_MS)
    await page.screenshot(path=str(shots / "restored.png"), full_page=True)
    assert page.errors == []
