"""The topic board in the browser: the city desk returns, merges, rejects and
approves topics (a reason required where the workflow needs one), the
submitting unit resubmits or withdraws a returned topic, and each side's
board follows the other's steps live, history included."""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

from playwright.async_api import expect

from tests.conftest import HubProcess
from tests.web.conftest import PHONE, WAIT_MS, open_signed_in, submit_topic, subscribed

SESSION = "typhoon-drill"  # owner dgdaily, member humen


def card(page: Any, topic: str) -> Any:
    return page.locator(f'#board [data-topic="{topic}"]')


async def decide(page: Any, topic: str, action: str, reason: str) -> None:
    form = card(page, topic).locator(".decision")
    await form.get_by_label("理由").fill(reason)
    await form.locator(f'button[data-action="{action}"]').click()


async def test_desk_and_unit_work_the_topic_board_live(web_hub: HubProcess, browser: Any, shots: Path) -> None:
    tag = uuid.uuid4().hex[:6]
    returned = await submit_topic(web_hub, "humen-editor", f"虎门渔港避风{tag}")
    target = await submit_topic(web_hub, "humen-editor", f"台风登陆全市直击{tag}")
    rejected = await submit_topic(web_hub, "humen-editor", f"旧闻重报{tag}")
    withdrawn = await submit_topic(web_hub, "humen-editor", f"撤回测试{tag}")

    desk = await open_signed_in(browser, web_hub, "dgdaily-duty")
    unit = await open_signed_in(browser, web_hub, "humen-editor", viewport=PHONE)
    await subscribed(desk, "duty")
    await subscribed(unit, "unit:humen")
    for page in (desk, unit):
        await page.goto(f"{web_hub.http}/#/s/{SESSION}/web-topics")
        await expect(card(page, returned)).to_have_attribute("data-status", "submitted", timeout=WAIT_MS)

    # A return without a reason is refused on the page, and nothing is sent.
    form = card(desk, returned).locator(".decision")
    await form.locator('button[data-action="return"]').click()
    reason = form.get_by_label("理由")
    await expect(reason).to_have_attribute("aria-invalid", "true")
    await expect(form.locator("[role=alert]")).to_contain_text("需要填写理由")
    await expect(reason).to_be_focused()
    await expect(card(unit, returned)).to_have_attribute("data-status", "submitted")

    # Returned with a reason: the unit's board follows live, and its history names the reason.
    await decide(desk, returned, "return", "请补充渔船数量")
    await expect(card(desk, returned)).to_have_attribute("data-status", "returned", timeout=WAIT_MS)
    await expect(card(unit, returned)).to_have_attribute("data-status", "returned", timeout=WAIT_MS)
    history = card(unit, returned).locator("details.history")
    await history.locator("summary").click()
    await expect(history.locator('.step[data-action="return"]')).to_contain_text("请补充渔船数量", timeout=WAIT_MS)
    await unit.screenshot(path=str(shots / "topic-returned-phone.png"), full_page=True)
    assert await unit.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]

    # The unit resubmits; the desk sees it submitted again, and the open history grows live.
    await decide(unit, returned, "resubmit", "已补充：渔船 1200 艘")
    await expect(card(desk, returned)).to_have_attribute("data-status", "submitted", timeout=WAIT_MS)
    await expect(card(unit, returned).locator('.step[data-action="resubmit"]')).to_contain_text(
        "渔船 1200 艘", timeout=WAIT_MS
    )

    # Merge: the desk picks the other topic.
    await card(desk, returned).locator("select").select_option(target)
    await decide(desk, returned, "merge", "与全市直击合并")
    await expect(card(unit, returned)).to_have_attribute("data-status", "merged", timeout=WAIT_MS)
    await expect(card(unit, returned)).to_contain_text(f"台风登陆全市直击{tag}")

    # Reject; return then withdraw; approve into this session, which creates the draft.
    await decide(desk, rejected, "reject", "已有同题")
    await expect(card(unit, rejected)).to_have_attribute("data-status", "rejected", timeout=WAIT_MS)
    await decide(desk, withdrawn, "return", "角度不明")
    await expect(card(unit, withdrawn)).to_have_attribute("data-status", "returned", timeout=WAIT_MS)
    await decide(unit, withdrawn, "withdraw", "不再跟进")
    await expect(card(desk, withdrawn)).to_have_attribute("data-status", "withdrawn", timeout=WAIT_MS)
    await decide(desk, target, "approve", "")
    await expect(card(unit, target)).to_have_attribute("data-status", "approved", timeout=WAIT_MS)
    await expect(card(desk, target).get_by_role("link", name="打开稿件")).to_be_visible()
    await expect(desk.locator('#board [data-column="approved"] h3')).to_be_visible()
    await desk.screenshot(path=str(shots / "topic-board-desk.png"), full_page=True)
    # A finished topic offers no more actions.
    for topic in (returned, target, rejected, withdrawn):
        await expect(card(desk, topic).locator(".decision")).to_have_count(0)
    assert desk.errors == [] and unit.errors == []
