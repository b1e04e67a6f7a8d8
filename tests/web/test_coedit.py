"""Two people of different units co-edit one draft in Chinese in real Chromium.

Each sees the other's text and a caret labelled with the other's name and
unit, in that unit's colour; one goes offline, edits, comes back, and both
converge, with the connection indicator saying what is happening throughout.
"""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

from playwright.async_api import expect

from tests.conftest import HubProcess
from tests.web.conftest import WAIT_MS, open_signed_in

SESSION = "typhoon-drill"  # seeded: owner dgdaily, member humen


async def open_draft(page: Any, draft: str) -> Any:
    await page.goto(f"{page.url.split('#')[0]}#/s/{SESSION}/{draft}")
    editor = page.locator(".ProseMirror")
    await expect(editor).to_be_visible(timeout=WAIT_MS)
    await expect(page.locator(".conn")).to_have_attribute("data-state", "connected", timeout=WAIT_MS)
    return editor


async def doc_text(page: Any) -> str:
    """The document's text, without the carets' name labels."""
    text: str = await page.locator(".ProseMirror").evaluate(
        "el => { const c = el.cloneNode(true); c.querySelectorAll('.caret').forEach(x => x.remove());"
        " return [...c.children].map(p => p.textContent).join('\\n') }"
    )
    return text


async def type_at_end(page: Any, text: str) -> None:
    await page.locator(".ProseMirror").click()
    await page.keyboard.press("Control+End")
    await page.keyboard.press("Enter")
    await page.keyboard.insert_text(text)


async def test_two_units_coedit_with_labelled_carets_and_offline_edits(
    web_hub: HubProcess, browser: Any, shots: Path
) -> None:
    draft = f"web-{uuid.uuid4().hex[:8]}"
    humen = await open_signed_in(browser, web_hub, "humen-editor")
    daily = await open_signed_in(browser, web_hub, "dgdaily-editor")
    humen_name = await humen.locator(".who .me").inner_text()
    daily_name = await daily.locator(".who .me").inner_text()
    humen_editor = await open_draft(humen, draft)
    daily_editor = await open_draft(daily, draft)

    # Each types; each sees the other's words.
    await type_at_end(humen, "虎门记者：台风“海燕”今晚登陆，渔船全部回港。")
    await expect(daily_editor).to_contain_text("渔船全部回港", timeout=WAIT_MS)
    await type_at_end(daily, "东莞日报：全市启动防风三级应急响应。")
    await expect(humen_editor).to_contain_text("防风三级应急响应", timeout=WAIT_MS)

    # The other's caret, labelled with name and unit, in the unit's colour.
    label = daily.locator(".caret-label", has_text=humen_name)
    await expect(label).to_contain_text("虎门镇", timeout=WAIT_MS)
    await expect(humen.locator(".caret-label", has_text=daily_name)).to_contain_text("东莞日报社", timeout=WAIT_MS)
    humen_badge = daily.locator('#presence .unit[data-unit="humen"]').first
    await expect(humen_badge).to_be_visible(timeout=WAIT_MS)
    caret_colour = await label.evaluate("el => getComputedStyle(el).backgroundColor")
    badge_colour = await humen_badge.evaluate("el => getComputedStyle(el).backgroundColor")
    own_colour = await daily.locator('.who .unit[data-unit="dgdaily"]').evaluate(
        "el => getComputedStyle(el).backgroundColor"
    )
    assert caret_colour == badge_colour != own_colour
    # Presence: both people, their units and the draft.
    for page, other in ((humen, daily_name), (daily, humen_name)):
        row = page.locator("#presence li", has_text=other)
        await expect(row).to_contain_text(draft, timeout=WAIT_MS)
    await humen.screenshot(path=str(shots / "coedit-humen.png"), full_page=True)
    await daily.screenshot(path=str(shots / "coedit-daily.png"), full_page=True)

    # Humen goes offline and keeps writing; the indicator says edits are pending.
    await humen.context.set_offline(True)
    indicator = humen.locator(".conn")
    await expect(indicator).to_have_attribute("data-state", "offline", timeout=WAIT_MS)
    await type_at_end(humen, "离线补记：沙田镇转移群众一千二百人。")
    await expect(indicator).not_to_have_attribute("data-pending", "0", timeout=WAIT_MS)
    await expect(indicator).to_contain_text("待同步")
    await humen.screenshot(path=str(shots / "offline-humen.png"), full_page=True)

    # Meanwhile the other edits online; once that is stored, the offline page still lacks it.
    await type_at_end(daily, "在线更新：长安镇暂停户外作业。")
    await expect(daily.locator(".conn")).to_have_attribute("data-pending", "0", timeout=WAIT_MS)
    assert "长安镇暂停户外作业" not in await doc_text(humen)
    assert "沙田镇转移群众" not in await doc_text(daily)

    # Back online: the offline edits are sent and stored, and both documents converge.
    await humen.context.set_offline(False)
    await expect(indicator).to_have_attribute("data-state", "connected", timeout=WAIT_MS)
    await expect(indicator).to_have_attribute("data-pending", "0", timeout=WAIT_MS)
    await expect(daily_editor).to_contain_text("沙田镇转移群众一千二百人", timeout=WAIT_MS)
    await expect(humen_editor).to_contain_text("长安镇暂停户外作业", timeout=WAIT_MS)
    assert await doc_text(humen) == await doc_text(daily)
    await daily.screenshot(path=str(shots / "converged-daily.png"), full_page=True)

    # A fresh page loads the converged draft from the hub.
    fresh = await open_signed_in(browser, web_hub, "humen-reporter")
    fresh_editor = await open_draft(fresh, draft)
    await expect(fresh_editor).to_contain_text("沙田镇转移群众一千二百人", timeout=WAIT_MS)
    await expect(fresh_editor).to_contain_text("长安镇暂停户外作业", timeout=WAIT_MS)
    for page in (humen, daily, fresh):
        assert page.errors == []
