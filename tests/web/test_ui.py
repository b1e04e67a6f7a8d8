"""The web client's shell: language switch, phone layout, keyboard use, and
endpoints a hub lacks degrading to a note instead of breaking the page."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from playwright.async_api import expect

from tests.conftest import HubProcess
from tests.web.conftest import PHONE, WAIT_MS, open_signed_in

HOME_PANELS = ("sessions", "inbox", "sent", "topics", "duty", "alerts")


async def test_language_switch_relabels_and_is_remembered(web_hub: HubProcess, browser: Any, shots: Path) -> None:
    page = await open_signed_in(browser, web_hub, "humen-editor")
    await expect(page.locator("#sessions h2")).to_have_text("我的策划会")
    assert await page.locator("html").get_attribute("lang") == "zh-CN"
    switch = page.get_by_role("button", name="Switch to English")
    await switch.click()
    await expect(page.locator("#sessions h2")).to_have_text("My planning sessions")
    await expect(page.locator("#inbox h2")).to_have_text("My unit's inbox")
    await expect(page.locator(".conn")).to_have_text("Connected", timeout=WAIT_MS)
    assert await page.locator("html").get_attribute("lang") == "en"
    await page.screenshot(path=str(shots / "home-en.png"), full_page=True)
    # Remembered across a reload (the token too: it lives in sessionStorage).
    await page.reload()
    await expect(page.locator("#sessions h2")).to_have_text("My planning sessions", timeout=WAIT_MS)
    await page.get_by_role("button", name="切换到中文").click()
    await expect(page.locator("#sessions h2")).to_have_text("我的策划会")
    assert page.errors == []


async def test_phone_layout_stacks_without_sideways_scrolling(web_hub: HubProcess, browser: Any, shots: Path) -> None:
    page = await open_signed_in(browser, web_hub, "dgdaily-editor", viewport=PHONE)
    await page.screenshot(path=str(shots / "phone-home.png"), full_page=True)
    await page.goto(f"{web_hub.http}/#/s/typhoon-drill/web-phone")
    editor = page.locator(".ProseMirror")
    await expect(editor).to_be_visible(timeout=WAIT_MS)
    await expect(page.locator(".conn")).to_have_attribute("data-state", "connected", timeout=WAIT_MS)
    await editor.click()
    await page.keyboard.insert_text("手机上也能写稿。")
    await expect(editor).to_contain_text("手机上也能写稿")
    await page.screenshot(path=str(shots / "phone-session.png"), full_page=True)
    width = PHONE["width"]
    assert await page.evaluate("document.documentElement.scrollWidth") <= width
    # One column, the editor first; every panel fits the screen.
    editor_box = await page.locator(".editor-host").bounding_box()
    drafts_box = await page.locator("#drafts").bounding_box()
    assert editor_box is not None and drafts_box is not None
    assert editor_box["y"] < drafts_box["y"]
    for selector in (".editor-host", "#drafts", "#presence", "header.top"):
        box = await page.locator(selector).bounding_box()
        assert box is not None and box["x"] >= 0 and box["x"] + box["width"] <= width + 0.5, selector
    # Touch targets: toolbar buttons are at least 44 px high.
    for button in await page.locator(".toolbar button").all():
        box = await button.bounding_box()
        assert box is not None and box["height"] >= 44
    assert page.errors == []


async def test_keyboard_reaches_everything_with_visible_focus(web_hub: HubProcess, browser: Any) -> None:
    page = await open_signed_in(browser, web_hub, "humen-editor")
    await page.goto(f"{web_hub.http}/#/s/typhoon-drill/web-keys")
    await expect(page.locator(".ProseMirror")).to_be_visible(timeout=WAIT_MS)
    # A route change moves focus to the main region; so does the skip link, without a new route.
    await expect(page.locator("main")).to_be_focused()
    await page.locator(".skip-link").focus()
    await expect(page.locator(".skip-link")).to_be_in_viewport()
    await page.keyboard.press("Enter")
    await expect(page.locator("main")).to_be_focused()
    assert page.url.endswith("#/s/typhoon-drill/web-keys")
    # Tab walks through the page's controls in reading order, each with a visible outline.
    seen = []
    for _ in range(40):
        await page.keyboard.press("Tab")
        focused = await page.evaluate(
            "() => { const el = document.activeElement; const s = getComputedStyle(el);"
            " return {tag: el.tagName, outline: s.outlineStyle, width: s.outlineWidth,"
            " name: el.getAttribute('aria-label') || el.textContent.trim().slice(0, 20)} }"
        )
        if focused["tag"] == "BODY":  # past the last control
            break
        seen.append(focused)
        assert focused["outline"] != "none" and focused["width"] != "0px", seen
    names = [f["name"] for f in seen]
    assert names[0] == "返回工作台", names
    order = ["加粗", "斜体", "标题", "列表", "撤销", "重做", "稿件正文：web-keys", "新建派单"]
    assert [n for n in names if n in order] == order, names
    assert {f["tag"] for f in seen} <= {"A", "BUTTON", "INPUT", "SELECT", "TEXTAREA", "SUMMARY", "DIV", "PRE"}
    # Everything clickable is a real control: no click handlers on plain elements, labelled buttons.
    unlabelled = await page.evaluate(
        "() => [...document.querySelectorAll('button')]"
        ".filter(b => !(b.getAttribute('aria-label') || b.textContent.trim())).length"
    )
    assert unlabelled == 0
    assert await page.locator("[role=status].conn").count() == 1
    assert page.errors == []


async def test_every_desk_panel_loads_or_says_it_is_not_there(web_hub: HubProcess, browser: Any) -> None:
    page = await open_signed_in(browser, web_hub, "dgdaily-commander")
    for panel in HOME_PANELS:
        body = page.locator(f"#{panel} .panel-body")
        await expect(body).not_to_have_text("加载中…", timeout=WAIT_MS)
        assert await body.locator("[data-state=failed]").count() == 0, panel
    # The seeded planning sessions are listed (from the sessions API or, without it, the rooms).
    await expect(page.locator("#sessions a", has_text="防御台风联合报道策划")).to_be_visible()
    assert page.errors == []
