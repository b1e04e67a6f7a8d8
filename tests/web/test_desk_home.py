"""The city desk's home page: the topics awaiting its decision, from every
unit, newest first, followed live and decided in place; nobody else sees
them. And role names, said in the interface's language wherever a role is
shown (the sign-in list, the header, presence)."""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

from playwright.async_api import expect

from tests.conftest import HubProcess
from tests.web.conftest import WAIT_MS, api, open_signed_in, submit_topic, subscribed

SESSION = "typhoon-drill"


def pending(page: Any, topic: str) -> Any:
    return page.locator(f'#pending [data-topic="{topic}"]')


async def topic_of(hub: HubProcess, topic: str) -> dict[str, Any]:
    body: dict[str, Any] = await api(hub, "dgdaily-commander", "GET", f"/api/topics/{topic}")
    return body.get("topic", body)


async def test_the_desk_decides_submitted_topics_from_its_home_page(
    web_hub: HubProcess, browser: Any, shots: Path
) -> None:
    tag = uuid.uuid4().hex[:6]
    older = await submit_topic(web_hub, "humen-editor", f"虎门大桥封闭{tag}")
    desk = await open_signed_in(browser, web_hub, "dgdaily-duty")
    await subscribed(desk, "duty")
    await expect(pending(desk, older)).to_be_visible(timeout=WAIT_MS)

    # A topic submitted by another unit while the page is open arrives live, on top.
    newer = await submit_topic(web_hub, "changan-editor", f"长安镇积水点{tag}")
    await expect(pending(desk, newer)).to_be_visible(timeout=WAIT_MS)
    order = await desk.locator("#pending [data-topic]").evaluate_all("els => els.map(e => e.dataset.topic)")
    assert order.index(newer) < order.index(older), order
    await expect(desk.locator("#pending h2")).to_have_text("待处理报题")
    await desk.screenshot(path=str(shots / "desk-pending.png"), full_page=True)

    # Approved into the session picked here: it leaves the list, and the draft is in that session.
    form = pending(desk, older).locator(".decision")
    await form.locator("select").select_option(SESSION)
    link = form.get_by_role("link", name="打开报题看板")
    await expect(link).to_have_attribute("href", f"#/s/{SESSION}")
    await form.locator('button[data-action="approve"]').click()
    await expect(pending(desk, older)).to_have_count(0, timeout=WAIT_MS)
    approved = await topic_of(web_hub, older)
    assert approved["status"] == "approved" and approved["session"] == SESSION, approved

    # A return needs a reason, asked for on the page; with one, the topic goes back to its unit.
    form = pending(desk, newer).locator(".decision")
    await form.locator('button[data-action="return"]').click()
    await expect(form.locator("[role=alert]")).to_contain_text("需要填写理由")
    await form.get_by_label("理由").fill("请补充积水深度")
    await form.locator('button[data-action="return"]').click()
    await expect(pending(desk, newer)).to_have_count(0, timeout=WAIT_MS)
    assert (await topic_of(web_hub, newer))["status"] == "returned"

    # Decided elsewhere (the API, another desk): the list follows live.
    third = await submit_topic(web_hub, "humen-editor", f"渔港避风{tag}")
    await expect(pending(desk, third)).to_be_visible(timeout=WAIT_MS)
    await api(web_hub, "dgdaily-chief", "POST", f"/api/topics/{third}/reject", {"reason": "已有同题"})
    await expect(pending(desk, third)).to_have_count(0, timeout=WAIT_MS)
    assert desk.errors == []


async def test_only_the_desk_sees_topics_awaiting_decision(web_hub: HubProcess, browser: Any) -> None:
    topic = await submit_topic(web_hub, "humen-editor", f"待定报题{uuid.uuid4().hex[:6]}")
    on_duty = (await api(web_hub, "dgdaily-commander", "GET", "/api/duty"))["current"]["unit"]
    # The duty editor of the unit on duty now is the desk; a town's editor is not.
    duty_editor = await open_signed_in(browser, web_hub, f"{on_duty}-duty")
    await expect(pending(duty_editor, topic)).to_be_visible(timeout=WAIT_MS)
    town = await open_signed_in(browser, web_hub, "humen-editor")
    await expect(town.locator("#topics .panel-body")).not_to_have_text("加载中…", timeout=WAIT_MS)
    await expect(town.locator("#pending")).to_be_hidden()
    assert duty_editor.errors == [] and town.errors == []


async def test_roles_are_named_in_the_interface_language(web_hub: HubProcess, browser: Any, shots: Path) -> None:
    context = await browser.new_context(locale="zh-CN")
    page = await context.new_page()
    await page.goto(f"{web_hub.http}/")
    option = page.locator('#dev-user option[value="dgdaily-duty"]')
    await expect(option).to_contain_text("值班编辑", timeout=WAIT_MS)
    assert "duty_editor" not in (await option.text_content() or "")
    await expect(page.locator('#dev-user option[value="dgdaily-review1"]')).to_contain_text("一审")
    await expect(page.locator('#dev-user option[value="dgdaily-admin"]')).to_contain_text("平台管理员")

    page = await open_signed_in(browser, web_hub, "dgdaily-review2")
    roles = page.locator("header .roles")
    await expect(roles).to_have_text("二审")
    await page.goto(f"{web_hub.http}/#/s/{SESSION}/web-roles")
    me = page.locator('[data-user="dgdaily-review2"]')
    await expect(me.locator(".roles")).to_have_text("二审", timeout=WAIT_MS)
    await page.screenshot(path=str(shots / "roles-zh.png"), full_page=True)
    await page.get_by_role("button", name="Switch to English").click()
    await expect(roles).to_have_text("second-level reviewer")
    await expect(me.locator(".roles")).to_have_text("second-level reviewer")
    assert page.errors == []
