"""Answering and managing dispatch tasks in the browser: recipients decline
(a reason required) or accept; the assigner reassigns a declined receipt to
another unit, completes one task and cancels another; every answer appears
on the other side without a reload."""

from __future__ import annotations

import re
import time
import uuid
from pathlib import Path
from typing import Any

import httpx
from playwright.async_api import expect

from tests.conftest import HubProcess
from tests.web.conftest import PHONE, WAIT_MS, open_signed_in, subscribed, token_for

SESSION = "typhoon-drill"  # owner dgdaily


async def dispatch(hub: HubProcess, title: str, units: list[str]) -> str:
    token = await token_for(hub, "dgdaily-commander")
    body = {
        "title": title,
        "body": "注意安全",
        "priority": "high",
        "deadline_at": time.time() + 3600,
        "recipients": [{"unit": u} for u in units],
        "session": SESSION,
    }
    async with httpx.AsyncClient(base_url=hub.http, timeout=10) as client:
        answer = await client.post("/api/tasks", json=body, headers={"Authorization": f"Bearer {token}"})
    assert answer.status_code == 201, answer.text
    task_id: str = answer.json()["id"]
    return task_id


async def test_recipients_answer_and_the_assigner_manages_live(web_hub: HubProcess, browser: Any, shots: Path) -> None:
    tag = uuid.uuid4().hex[:6]
    commander = await open_signed_in(browser, web_hub, "dgdaily-commander")
    humen = await open_signed_in(browser, web_hub, "humen-editor", viewport=PHONE)
    shijie = await open_signed_in(browser, web_hub, "shijie-editor")
    await subscribed(commander, "user:dgdaily-commander")
    await subscribed(humen, "unit:humen")
    await subscribed(shijie, "unit:shijie")
    # Dispatched through the API (the form is tested in test_dispatch.py), then the session page is opened.
    task = await dispatch(web_hub, f"威远炮台现场连线{tag}", ["humen", "shijie"])
    other = await dispatch(web_hub, f"取消测试{tag}", ["humen"])
    await commander.goto(f"{web_hub.http}/#/s/{SESSION}/web-dispatch-actions")
    sent = commander.locator(f'#dispatch [data-task="{task}"]')
    await expect(sent.locator("li[data-receipt]")).to_have_count(2, timeout=WAIT_MS)
    humen_receipt = sent.locator("li[data-receipt]", has_text="虎门镇")
    shijie_receipt = sent.locator("li[data-receipt]", has_text="石碣镇")

    # Humen declines: without a reason the page refuses; with one, the assigner sees it live.
    inbox = humen.locator(f'#inbox [data-task="{task}"]')
    await expect(inbox).to_be_visible(timeout=WAIT_MS)
    await inbox.locator('button[data-action="decline"]').click()
    await expect(inbox.get_by_label("理由")).to_have_attribute("aria-invalid", "true")
    await expect(humen_receipt).to_have_attribute("data-status", "delivered")
    await inbox.get_by_label("理由").fill("记者都在沙田，无人可派")
    await inbox.locator('button[data-action="decline"]').click()
    await expect(humen_receipt).to_have_attribute("data-status", "declined", timeout=WAIT_MS)
    await expect(humen_receipt).to_contain_text("无人可派")
    await expect(inbox.locator("[data-receipt]")).to_have_text("已拒绝", timeout=WAIT_MS)
    await humen.screenshot(path=str(shots / "declined-phone.png"), full_page=True)
    assert await humen.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]

    # Shijie accepts.
    accept = shijie.locator(f'#inbox [data-task="{task}"] button[data-action="accept"]')
    await accept.click()
    await expect(shijie_receipt).to_have_attribute("data-status", "accepted", timeout=WAIT_MS)

    # The assigner reassigns humen's receipt to Chang'an (长安镇), which gets a new receipt.
    manage = sent.locator("details.manage")
    await manage.locator("summary").click()
    await manage.get_by_label("接收方").select_option(label="虎门镇")
    await manage.get_by_label("转给单位").select_option("changan")
    await manage.locator('button[data-action="reassign"]').click()
    await expect(manage.get_by_label("理由")).to_have_attribute("aria-invalid", "true")
    await manage.get_by_label("理由").fill("改派长安镇")
    await manage.locator('button[data-action="reassign"]').click()
    await expect(humen_receipt).to_have_attribute("data-status", "reassigned", timeout=WAIT_MS)
    await expect(sent.locator("li[data-receipt]", has_text=re.compile("^长安镇"))).to_have_attribute(
        "data-status", "delivered", timeout=WAIT_MS
    )
    await commander.screenshot(path=str(shots / "reassigned.png"), full_page=True)

    # Completing the task: the recipient's inbox follows.
    manage = sent.locator("details.manage")
    if not await manage.evaluate("el => el.open"):
        await manage.locator("summary").click()
    await manage.locator('button[data-action="complete"]').click()
    await expect(sent).to_have_attribute("data-task-status", "completed", timeout=WAIT_MS)
    await expect(shijie.locator(f'#inbox [data-task="{task}"]')).to_have_attribute(
        "data-task-status", "completed", timeout=WAIT_MS
    )
    await expect(sent.locator("details.manage")).to_have_count(0)

    # Cancelling needs a reason; the recipient sees the cancellation live.
    sent_other = commander.locator(f'#dispatch [data-task="{other}"]')
    await sent_other.locator("details.manage summary").click()
    await sent_other.get_by_label("理由").fill("台风转向，取消连线")
    await sent_other.locator('button[data-action="cancel"]').click()
    await expect(sent_other).to_have_attribute("data-task-status", "cancelled", timeout=WAIT_MS)
    row = humen.locator(f'#inbox [data-task="{other}"]')
    await expect(row).to_have_attribute("data-task-status", "cancelled", timeout=WAIT_MS)
    await expect(row.locator(".decision")).to_have_count(0)
    assert commander.errors == [] and humen.errors == [] and shijie.errors == []
