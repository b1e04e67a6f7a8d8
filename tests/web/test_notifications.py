"""Notifications in the browser: informational toasts leave by themselves
(not while pointed at), important ones stay; a compact stack with "N more";
the bell in the header keeps them all with an unread count; one live event
heard on two channels makes one notification, announced once. Every event
comes from a real action: topic reports and the desk's decisions through the
API, an alert from the hub's monitor reading a local feed.

Time is Playwright's fake clock (installed before the page loads), moved
forward explicitly, so the test never waits for a toast's seconds to pass.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from playwright.async_api import expect

from tests.conftest import HubProcess
from tests.monitor.helpers import FeedServer
from tests.web.conftest import LAPTOP, PHONE, WAIT_MS, api, raise_alert, sign_in, submit_topic, subscribed

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


async def submit_topics(hub: HubProcess, user: str, titles: list[str]) -> list[str]:
    return [await submit_topic(hub, user, title) for title in titles]


async def decide(hub: HubProcess, topics: list[str], action: str, body: dict[str, str]) -> None:
    """The city desk (a chief editor) takes ``action`` on each topic: one ``topic.{action}ed`` event each."""
    for topic in topics:
        await api(hub, "dgdaily-chief", "POST", f"/api/topics/{topic}/{action}", body)


async def test_toasts_expire_stay_collapse_and_are_kept_behind_the_bell(
    monitor_hub: HubProcess, browser: Any, shots: Path
) -> None:
    # Submitted before the page opens (no notification): returned below, five at once.
    batch = await submit_topics(monitor_hub, "dgdaily-editor", [f"报题{n}号" for n in range(5)])
    # The duty editor of a city outlet hears its unit's and the duty desk's channels, and city-wide alerts.
    page = await open_with_clock(browser, monitor_hub, "dgdaily-duty", LAPTOP)
    await subscribed(page, "unit:dgdaily")
    await subscribed(page, "duty")
    await subscribed(page, "alerts")
    bell = page.locator("header .bell")
    await expect(bell).to_have_attribute("data-unread", "0")

    # A topic report goes to two of its channels (the unit's, the duty desk's): one toast, one entry, said once.
    title = "台风停课通知稿"
    await submit_topics(monitor_hub, "dgdaily-editor", [title])
    toast = page.locator(".notes .note-topic", has_text=title)
    await expect(toast).to_have_count(1, timeout=WAIT_MS)
    await expect(bell).to_have_attribute("data-unread", "1")
    assert await announced(page, title) == 1
    # Both copies come before a later report's (same connection, in order): it proves both were processed.
    await submit_topics(monitor_hub, "dgdaily-editor", ["标记事件"])
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

    # A severe alert (the hub's monitor reading a feed) stays until dismissed.
    async with FeedServer() as feeds:
        await raise_alert(monitor_hub, feeds, "东江水位超警戒", "水位", severity="high")
        alert = page.locator(".notes .note-alert", has_text="东江水位超警戒")
        await expect(alert).to_be_visible(timeout=WAIT_MS)
    await page.clock.fast_forward(LATER)
    await expect(alert).to_be_visible()
    assert await announced(page, "东江水位超警戒") == 1
    await expect(page.locator("[role=alert][data-announce]")).to_contain_text("东江水位超警戒")

    # Many at once: three toasts shown, the rest behind "N more", which opens the list.
    await decide(monitor_hub, batch, "return", {"reason": "请补充现场信息"})
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
    topics = await submit_topics(web_hub, "humen-editor", [f"手机报题{n}" for n in range(3)])
    page = await open_with_clock(browser, web_hub, "humen-editor", PHONE)
    await subscribed(page, "unit:humen")
    await decide(web_hub, topics, "approve", {"session": "typhoon-drill"})
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
