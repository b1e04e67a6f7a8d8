"""Dispatch in the browser: a task reaches its recipient as a live notification
without a reload, is acknowledged there, and the assigner's view follows live;
a real alert (the hub's monitor reading a local feed) is announced to those
who may see it."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from playwright.async_api import expect

from tests.conftest import HubProcess
from tests.monitor.helpers import FeedServer
from tests.web.conftest import WAIT_MS, api, open_signed_in, publish, raise_alert, subscribed

SESSION = "typhoon-drill"  # owner dgdaily, member humen


async def test_dispatch_is_notified_live_and_acknowledged(web_hub: HubProcess, browser: Any, shots: Path) -> None:
    commander = await open_signed_in(browser, web_hub, "dgdaily-commander")
    humen = await open_signed_in(browser, web_hub, "humen-editor")
    title = "请虎门镇今晚派记者到威远炮台"
    await subscribed(humen, "unit:humen")
    await subscribed(humen, "user:humen-editor")
    await subscribed(commander, "user:dgdaily-commander")
    # The commander dispatches from the session page; the humen editor is on the desk.
    await commander.goto(f"{web_hub.http}/#/s/{SESSION}/web-dispatch")
    form = commander.locator("#dispatch details")
    await form.locator("summary").click()
    await form.locator("#task-title").fill(title)
    await form.locator("#task-body").fill("注意安全，22 点前回传现场图片。")
    await form.locator("#task-priority").select_option("urgent")
    await form.locator("#task-deadline").fill("2030-01-01T22:00")
    await form.locator("#to-humen").check()
    await form.get_by_role("button", name="派出").click()
    receipt = commander.locator("#dispatch [data-task] li[data-receipt]", has_text="虎门镇")
    await expect(receipt).to_have_attribute("data-status", "delivered", timeout=WAIT_MS)

    note = humen.locator(".note-task", has_text=title)
    await expect(note).to_be_visible(timeout=WAIT_MS)
    await expect(humen.locator("#inbox [data-task]", has_text=title)).to_be_visible(timeout=WAIT_MS)
    await humen.screenshot(path=str(shots / "task-notified.png"), full_page=True)
    await note.get_by_role("button", name="确认收到").click()
    await expect(note).to_have_count(0, timeout=WAIT_MS)
    await expect(humen.locator("#inbox [data-task] [data-receipt]", has_text="已确认")).to_be_visible(timeout=WAIT_MS)
    # The assigner's view changes without a reload.
    await expect(receipt).to_have_attribute("data-status", "acknowledged", timeout=WAIT_MS)
    update = commander.locator(".note-receipt", has_text=title)
    await expect(update).to_contain_text("虎门镇", timeout=WAIT_MS)
    await expect(update).to_contain_text("已确认")
    await commander.screenshot(path=str(shots / "task-acknowledged.png"), full_page=True)
    # Announced once: the urgent task in the assertive region only (the toast itself is not a live region).
    said = await humen.evaluate(
        "t => [...document.querySelectorAll('[aria-live], [role=alert], [role=log], [role=status]')]"
        ".filter(el => el.textContent.includes(t)).length",
        title,
    )
    assert said == 1, said
    await expect(humen.locator("[role=alert][data-announce]")).to_contain_text(title)
    assert commander.errors == [] and humen.errors == []


async def test_alert_is_announced_to_those_allowed(monitor_hub: HubProcess, browser: Any) -> None:
    monitor = await open_signed_in(browser, monitor_hub, "dgrelease-monitor")
    await subscribed(monitor, "alerts")
    async with FeedServer() as feeds:
        await raise_alert(monitor_hub, feeds, "东江水位超警戒", "水位", severity="high")
        note = monitor.locator(".note-alert", has_text="东江水位超警戒")
        await expect(note).to_be_visible(timeout=WAIT_MS)
    # Urgent items also go to the assertive region.
    await expect(monitor.locator("[role=alert]", has_text="东江水位超警戒")).to_have_count(1, timeout=WAIT_MS)


async def test_task_created_elsewhere_joins_the_assigners_list_live(web_hub: HubProcess, browser: Any) -> None:
    """`task.created` on the assigner's channel (a task made in another tab or client) reloads their list."""
    commander = await open_signed_in(browser, web_hub, "dgdaily-commander")
    await subscribed(commander, "user:dgdaily-commander")
    await expect(commander.locator("#sent .panel-body")).not_to_have_text("加载中…", timeout=WAIT_MS)
    title = "另一终端派出的任务：寮步镇积水点排查"
    body = {
        "title": title,
        "priority": "normal",
        "deadline_at": 1_900_000_000,
        "recipients": [{"unit": "humen"}],
        "session": SESSION,
    }
    task = await api(web_hub, "dgdaily-commander", "POST", "/api/tasks", body)
    await expect(commander.locator(f'#sent [data-task="{task["id"]}"]')).to_contain_text(title, timeout=WAIT_MS)
    # Unknown or quiet events make no notification and break nothing.
    await publish(web_hub, ["user:dgdaily-commander"], "task.unheard_of", {"task": task})
    # Humen acknowledges: its receipt.updated comes after both on the same channel, and is the one notification.
    receipt = task["receipts"][0]["id"]
    await api(web_hub, "humen-editor", "POST", f"/api/tasks/{task['id']}/receipts/{receipt}/acknowledge", {})
    update = commander.locator(".notes .note-receipt", has_text=title)
    await expect(update).to_contain_text("已确认", timeout=WAIT_MS)
    await expect(commander.locator(".notes .note", has_text=title)).to_have_count(1)
    assert commander.errors == []
