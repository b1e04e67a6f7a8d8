"""Signing out on a shared computer: the browser's copies of the user's drafts
(IndexedDB) are deleted when the hub has every edit in them; with edits
pending, a dialog warns and the user stays, keeps the copies, or syncs them
and signs out (the copies deleted once the hub has stored the edits).
Another person's copies in the same browser are never touched."""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

from playwright.async_api import expect

from tests.conftest import HubProcess
from tests.web.conftest import WAIT_MS, open_signed_in, sign_in
from tests.web.test_coedit import SESSION, open_draft, type_at_end

COPIES = "async prefix => (await indexedDB.databases()).map(d => d.name).filter(n => n.startsWith(prefix)).sort()"


async def copies(page: Any, user: str) -> list[str]:
    names: list[str] = await page.evaluate(COPIES, f"tongpin/{user}/")
    return names


def copy_name(user: str, draft: str) -> str:
    return f"tongpin/{user}/{SESSION}/{draft}"


async def sign_out(page: Any) -> None:
    await page.locator(".who").get_by_role("button", name="退出").click()


async def test_sign_out_deletes_synced_copies_of_that_user_only(web_hub: HubProcess, browser: Any) -> None:
    draft = f"web-out-{uuid.uuid4().hex[:8]}"
    page = await open_signed_in(browser, web_hub, "humen-editor")
    await open_draft(page, draft)
    await type_at_end(page, "已同步的内容：虎门渡口停航。")
    await expect(page.locator(".conn")).to_have_attribute("data-pending", "0", timeout=WAIT_MS)
    # Another person in the same browser (another tab: its own sign-in), with a copy of the same draft.
    other = await page.context.new_page()
    await sign_in(other, web_hub, "humen-reporter")
    await open_draft(other, draft)
    assert await copies(page, "humen-editor") == [copy_name("humen-editor", draft)]
    assert await copies(page, "humen-reporter") == [copy_name("humen-reporter", draft)]

    await sign_out(page)
    await expect(page.locator("#dev-user")).to_be_visible(timeout=WAIT_MS)
    await expect(page.locator("#app")).to_have_attribute("data-forgotten", "1", timeout=WAIT_MS)
    await expect(page.get_by_role("dialog")).to_have_count(0)
    assert await copies(page, "humen-editor") == []
    assert await copies(page, "humen-reporter") == [copy_name("humen-reporter", draft)]
    assert page.errors == [] and other.errors == []


async def test_pending_edits_warn_then_keep_or_sync_before_signing_out(
    web_hub: HubProcess, browser: Any, shots: Path
) -> None:
    draft = f"web-out-{uuid.uuid4().hex[:8]}"
    page = await open_signed_in(browser, web_hub, "humen-editor")
    await open_draft(page, draft)
    await type_at_end(page, "在线：第一段。")
    indicator = page.locator(".conn")
    await expect(indicator).to_have_attribute("data-pending", "0", timeout=WAIT_MS)
    await page.context.set_offline(True)
    offline_text = "离线补记：沙角炮台临时封闭。"
    await type_at_end(page, offline_text)
    await expect(indicator).not_to_have_attribute("data-pending", "0", timeout=WAIT_MS)
    pending = await indicator.get_attribute("data-pending")
    await expect(indicator).to_have_attribute("data-kept", pending or "", timeout=WAIT_MS)

    # Warned: which draft, how many edits; staying keeps everything as it was.
    await sign_out(page)
    dialog = page.get_by_role("dialog", name="还有修改未存到服务器")
    await expect(dialog).to_be_visible(timeout=WAIT_MS)
    await expect(dialog).to_contain_text(f"{SESSION} / {draft}：{pending} 处修改待同步")
    await expect(dialog.get_by_role("button", name="同步后退出")).to_be_disabled()  # offline
    await expect(dialog.get_by_role("button", name="保留本机副本并退出")).to_be_focused()
    await page.screenshot(path=str(shots / "signout-warning.png"))
    await dialog.get_by_role("button", name="取消").click()
    await expect(dialog).to_have_count(0)
    await expect(page.locator(".who .me")).to_be_visible()

    # Keep: signed out, the copy with the pending edits stays.
    await sign_out(page)
    await dialog.get_by_role("button", name="保留本机副本并退出").click()
    await expect(page.get_by_role("heading", name="登录")).to_be_visible(timeout=WAIT_MS)  # offline: no user list
    await expect(page.locator("#app")).to_have_attribute("data-kept", "1", timeout=WAIT_MS)
    assert await copies(page, "humen-editor") == [copy_name("humen-editor", draft)]

    # Back online and signed in again (on the desk, no draft open): sync, then sign out.
    await page.context.set_offline(False)
    await sign_in(page, web_hub, "humen-editor")
    await sign_out(page)
    await expect(dialog).to_be_visible(timeout=WAIT_MS)
    await expect(dialog).to_contain_text(f"{pending} 处修改待同步")
    await dialog.get_by_role("button", name="同步后退出").click()
    await expect(page.locator("#dev-user")).to_be_visible(timeout=WAIT_MS)
    await expect(page.locator("#app")).to_have_attribute("data-forgotten", "1", timeout=WAIT_MS)
    assert await copies(page, "humen-editor") == []

    # The hub has the offline edit: another person loading the draft sees it.
    reader = await open_signed_in(browser, web_hub, "dgdaily-editor")
    await expect(await open_draft(reader, draft)).to_contain_text(offline_text, timeout=WAIT_MS)
    assert page.errors == [] and reader.errors == []
