"""Notifications in the browser: informational toasts leave by themselves
(not while pointed at), important ones stay; a compact stack with "N more";
the bell in the header keeps them all with an unread count; one live event
heard on two channels makes one notification, announced once.

Time is Playwright's fake clock (installed before the page loads), moved
forward explicitly, so the test never waits for a toast's seconds to pass.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from playwright.async_api import expect

from tests.conftest import HubProcess
from tests.web.conftest import LAPTOP, PHONE, WAIT_MS, publish, sign_in, subscribed

LIVE_REGIONS = "[aria-live], [role=alert], [role=log], [role=status]"
LATER = 30_000  # ms of fake time: far past an informational toast's life


async def open_with_clock(browser: Any, hub: HubProcess, user: str, viewport: dict[str, int]) -> Any:
    context = await browser.new_context(viewport=viewport, locale="zh-CN")
    page = await context.new_page()
    await page.clock.install()
    return await sign_in(page, hub, user)


async def announced(page: Any, text: str) -> int:
    """How many live regions say ``text`` (each notification must be said exactly once)."""
    count: int = await page.evaluate(
        "([selector, text]) => [...document.querySelectorAll(selector)]"
        ".filter(el => el.textContent.includes(text)).length",
        [LIVE_REGIONS, text],
    )
    return count


def review_event(title: str, at: float) -> dict[str, object]:
    return {
        "session": "typhoon-drill",
        "draft": "web-notes",
        "title": title,
        "lead_unit": "dgrelease",
        "action": "submit",
        "from": "editing",
        "status": "level_1",
        "level": 1,
        "actor": "dgrelease-editor",
        "at": at,
    }


async def test_toasts_expire_stay_collapse_and_are_kept_behind_the_bell(
    web_hub: HubProcess, browser: Any, shots: Path
) -> None:
    page = await open_with_clock(browser, web_hub, "dgrelease-monitor", LAPTOP)
    await subscribed(page, "unit:dgrelease")
    await subscribed(page, "user:dgrelease-monitor")
    await subscribed(page, "alerts")
    bell = page.locator("header .bell")
    await expect(bell).to_have_attribute("data-unread", "0")

    # A review step is published to two channels: one toast, one entry, said once.
    title = "台风停课通知稿"
    await publish(web_hub, ["unit:dgrelease", "user:dgrelease-monitor"], "review.submitted", review_event(title, 1.5))
    toast = page.locator(".notes .note-review", has_text=title)
    await expect(toast).to_have_count(1, timeout=WAIT_MS)
    await expect(bell).to_have_attribute("data-unread", "1")
    assert await announced(page, title) == 1
    # The second copy arrives after the first (same connection, in order): a later event proves it was processed.
    await publish(web_hub, ["user:dgrelease-monitor"], "topic.submitted", {"title": "标记事件", "status": "submitted"})
    await expect(page.locator(".notes .note-topic", has_text="标记事件")).to_be_visible(timeout=WAIT_MS)
    await expect(toast).to_have_count(1)
    await expect(bell).to_have_attribute("data-unread", "2")
    assert await announced(page, title) == 1

    # Pointed at, an informational toast waits; left alone, it goes.
    await toast.hover()
    await page.clock.fast_forward(LATER)
    await expect(toast).to_be_visible()
    await page.mouse.move(5, 5)
    await page.clock.fast_forward(LATER)
    await expect(toast).to_have_count(0, timeout=WAIT_MS)

    # A severe alert stays until dismissed.
    await publish(web_hub, ["alerts"], "alert.new", {"alert": {"title": "东江水位超警戒", "severity": "high"}})
    alert = page.locator(".notes .note-alert", has_text="东江水位超警戒")
    await expect(alert).to_be_visible(timeout=WAIT_MS)
    await page.clock.fast_forward(LATER)
    await expect(alert).to_be_visible()
    assert await announced(page, "东江水位超警戒") == 1
    await expect(page.locator("[role=alert][data-announce]")).to_contain_text("东江水位超警戒")

    # Many at once: three toasts shown, the rest behind "N more", which opens the list.
    for n in range(5):
        await publish(web_hub, ["unit:dgrelease"], "topic.returned", {"title": f"报题{n}号", "status": "returned"})
    await expect(page.locator(".notes .note", has_text="报题4号")).to_be_visible(timeout=WAIT_MS)
    await expect(page.locator(".notes .note:visible")).to_have_count(3)
    more = page.locator(".notes-more")
    await expect(more).to_be_visible()
    await expect(more).to_contain_text("还有")
    await page.screenshot(path=str(shots / "stack-laptop.png"))
    # Nothing in the stack reaches above the lower half of the window.
    box = await page.locator(".notes-panel").bounding_box()
    assert box is not None and box["y"] >= LAPTOP["height"] * 0.5, box
    await more.click()
    center = page.locator("#notes-center")
    await expect(center).to_be_visible()
    await expect(center.locator(".note-entry", has_text=title)).to_have_count(1)
    await expect(center.locator(".note-entry")).to_have_count(8)
    await expect(bell).to_have_attribute("data-unread", "0")
    await expect(bell).to_have_attribute("aria-expanded", "true")
    await page.screenshot(path=str(shots / "bell-open.png"))
    await page.keyboard.press("Escape")
    await expect(center).to_be_hidden()
    await expect(bell).to_be_focused()
    # The sticky alert is still there, and its dismiss button works.
    await alert.get_by_role("button", name="知道了").click()
    await expect(alert).to_have_count(0)
    assert page.errors == []


async def test_phone_shows_one_toast_and_leaves_room_for_the_page(
    web_hub: HubProcess, browser: Any, shots: Path
) -> None:
    page = await open_with_clock(browser, web_hub, "humen-editor", PHONE)
    await subscribed(page, "unit:humen")
    for n in range(3):
        await publish(web_hub, ["unit:humen"], "topic.approved", {"title": f"手机报题{n}", "status": "approved"})
    await expect(page.locator(".notes .note", has_text="手机报题2")).to_be_visible(timeout=WAIT_MS)
    await expect(page.locator(".notes .note:visible")).to_have_count(1)
    await expect(page.locator(".notes-more")).to_have_attribute("data-count", "2")
    panel = await page.locator(".notes-panel").bounding_box()
    assert panel is not None and panel["width"] < PHONE["width"] and panel["x"] > 0, panel
    # The page reserves room under its content, so the last control can be scrolled clear of the stack.
    padding = await page.evaluate("parseFloat(getComputedStyle(document.querySelector('main')).paddingBottom)")
    assert padding >= panel["height"], (padding, panel)
    last = page.locator("main button:visible, main a:visible, main summary:visible").last
    await last.scroll_into_view_if_needed()
    await page.evaluate("window.scrollTo(0, document.documentElement.scrollHeight)")
    target = await last.bounding_box()
    panel = await page.locator(".notes-panel").bounding_box()
    assert target is not None and panel is not None
    assert target["y"] + target["height"] <= panel["y"], (target, panel)
    assert await page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
    await page.screenshot(path=str(shots / "stack-phone.png"))
    assert page.errors == []
