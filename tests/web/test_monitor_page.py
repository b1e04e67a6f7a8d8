"""The monitor page and the assessment page in the browser.

Monitor: a rule created and edited in the page, real feeds fetched by the
hub's monitor from a local feed server (one healthy, one answering 404), the
sources' health as the page shows it, and alerts made from the feed taken
through their lifecycle (acknowledge, assign as a task, resolve; dismiss).
Assessment: the per-unit table for a period and its CSV download.
"""

from __future__ import annotations

import asyncio
import csv
import io
import time
from pathlib import Path
from typing import Any

from playwright.async_api import expect

from tests.conftest import HubProcess
from tests.monitor.helpers import Entry, Feed, FeedServer, rss
from tests.web.conftest import PHONE, WAIT_MS, api, open_signed_in, subscribed

HARBOUR = "虎门大桥因强风临时封闭，车辆请绕行"
BILLBOARD = "长安镇强风吹倒广告牌，暂无人员受伤"


async def sources_checked(hub: HubProcess, count: int, within: float = 20.0) -> None:
    """Wait until ``count`` sources have been fetched at least once (health no longer pending)."""
    deadline = time.monotonic() + within
    while True:
        items = (await api(hub, "dgrelease-monitor", "GET", "/api/monitor/sources"))["items"]
        if len([s for s in items if s["health"] != "pending"]) >= count:
            return
        assert time.monotonic() < deadline, items
        await asyncio.sleep(0.2)  # polling the API, not waiting for time to pass


def alert_row(page: Any, title: str) -> Any:
    return page.locator("#monitor-alerts [data-alert]", has_text=title)


async def test_monitor_rules_sources_and_alert_lifecycle(monitor_hub: HubProcess, browser: Any, shots: Path) -> None:
    hub = monitor_hub
    page = await open_signed_in(browser, hub, "dgrelease-monitor")
    await subscribed(page, "alerts")
    await page.goto(f"{hub.http}/#/monitor")
    await expect(page.locator("#monitor-rules")).to_be_visible(timeout=WAIT_MS)

    # A rule, created in the page (keywords separated by 、 as people type them).
    rules = page.locator("#monitor-rules")
    await rules.locator("summary").click()
    await rules.get_by_label("规则名称").fill("台风强风")
    await rules.get_by_label("任一关键词（用逗号或顿号分隔）").fill("强风、封闭")
    await rules.get_by_label("级别").select_option("high")
    await rules.get_by_role("button", name="创建规则").click()
    rule = rules.locator("[data-rule]", has_text="台风强风")
    await expect(rule).to_contain_text("强风、封闭", timeout=WAIT_MS)
    await expect(rule).to_contain_text("高")

    # Feeds: one healthy with two matching items, one missing.
    async with FeedServer() as feeds:
        now = time.time()
        entries = [Entry(HARBOUR, "https://news.example/1", published=now)]
        entries.append(Entry(BILLBOARD, "https://news.example/2", published=now))
        feeds.feeds["/news.xml"] = Feed(rss(entries))
        for name, path in (("东莞新闻", "/news.xml"), ("失效的源", "/gone.xml")):
            source = {"url": feeds.url(path), "name": name, "interval": 1}
            await api(hub, "dgrelease-monitor", "POST", "/api/monitor/sources", source)

        # The alerts arrive live, without a reload.
        harbour = alert_row(page, "虎门大桥")
        billboard = alert_row(page, "广告牌")
        await expect(harbour).to_have_attribute("data-status", "new", timeout=WAIT_MS)
        await expect(billboard).to_have_attribute("data-status", "new", timeout=WAIT_MS)
        await expect(harbour.locator('.unit[data-unit="humen"]')).to_be_visible()
        await sources_checked(hub, 2)

    # Sources with their health (loaded again: health has no live event).
    await page.reload()
    good = page.locator("#monitor-sources [data-source]", has_text="东莞新闻")
    bad = page.locator("#monitor-sources [data-source]", has_text="失效的源")
    await expect(good).to_have_attribute("data-health", "ok", timeout=WAIT_MS)
    await expect(good.locator('[data-field="last_success"]')).to_contain_text("上次成功")
    await expect(bad).to_have_attribute("data-health", "failing")
    await expect(bad.locator('[data-field="last_error"]')).to_contain_text("404")
    await expect(bad).to_contain_text("抓取失败")

    # Edit the rule: the severity changes in the list.
    await rules.get_by_role("button", name="编辑规则“台风强风”").click()
    await expect(rules.get_by_label("规则名称")).to_be_focused()
    await rules.get_by_label("级别").select_option("medium")
    await rules.get_by_role("button", name="保存修改").click()
    await expect(rule.locator(".sev")).to_have_text("中", timeout=WAIT_MS)

    # The lifecycle: the monitor acknowledges; a commander (who may dispatch) sees it live,
    # assigns it as a task to the alert's unit and resolves it.
    commander = await open_signed_in(browser, hub, "dgdaily-commander")
    await subscribed(commander, "alerts")
    await commander.goto(f"{hub.http}/#/monitor")
    on_desk = alert_row(commander, "虎门大桥")
    await expect(on_desk).to_have_attribute("data-status", "new", timeout=WAIT_MS)
    harbour = alert_row(page, "虎门大桥")
    await harbour.locator('button[data-action="acknowledge"]').click()
    await expect(harbour).to_have_attribute("data-status", "acknowledged", timeout=WAIT_MS)
    await expect(on_desk).to_have_attribute("data-status", "acknowledged", timeout=WAIT_MS)
    await on_desk.get_by_label("转为").select_option("task")
    await on_desk.locator('button[data-action="assign"]').click()
    await expect(on_desk).to_have_attribute("data-status", "assigned", timeout=WAIT_MS)
    await expect(on_desk).to_contain_text("已派单 #")
    await on_desk.get_by_label("理由").fill("大桥已恢复通行")
    await on_desk.locator('button[data-action="resolve"]').click()
    await expect(harbour).to_have_attribute("data-status", "resolved", timeout=WAIT_MS)
    await expect(harbour.locator(".decision")).to_have_count(0)
    await harbour.locator("details.history summary").click()
    await expect(harbour.locator('.step[data-action="resolve"]')).to_contain_text("大桥已恢复通行")
    billboard = alert_row(page, "广告牌")
    await billboard.locator('button[data-action="dismiss"]').click()
    await expect(billboard).to_have_attribute("data-status", "dismissed", timeout=WAIT_MS)
    await page.screenshot(path=str(shots / "monitor.png"), full_page=True)

    # The task the alert became reached Humen.
    tasks = await api(hub, "humen-editor", "GET", "/api/tasks?box=inbox")
    assert any(HARBOUR in t["title"] for t in tasks["items"]), tasks

    # At phone width the page fits; a unit's editor sees the alert routed to it but no sources or rules.
    humen = await open_signed_in(browser, hub, "humen-editor", viewport=PHONE)
    await humen.goto(f"{hub.http}/#/monitor")
    await expect(alert_row(humen, "虎门大桥")).to_have_attribute("data-status", "resolved", timeout=WAIT_MS)
    await expect(humen.locator("#monitor-rules")).to_have_count(0)
    await expect(humen.locator("#monitor-sources")).to_have_count(0)
    assert await humen.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
    await humen.screenshot(path=str(shots / "monitor-phone.png"), full_page=True)
    assert page.errors == [] and humen.errors == [] and commander.errors == []


async def test_assessment_table_and_csv(web_hub: HubProcess, browser: Any, shots: Path) -> None:
    units = (await api(web_hub, "dgdaily-commander", "GET", "/api/units"))["units"]
    page = await open_signed_in(browser, web_hub, "dgdaily-commander")
    await page.get_by_role("navigation").get_by_role("link", name="考核统计").click()
    await expect(page.get_by_role("heading", name="考核统计")).to_be_visible(timeout=WAIT_MS)
    table = page.locator("#stats table")
    # A commander sees every unit, zeros included.
    await expect(table.locator("tbody tr")).to_have_count(len(units), timeout=WAIT_MS)
    await expect(table.locator('tr[data-unit="humen"] th')).to_have_text("虎门镇")
    await page.get_by_label("开始日期").fill("2030-01-01")
    await page.get_by_label("结束日期").fill("2030-01-31")
    await page.get_by_label("单位", exact=True).select_option("humen")
    await page.get_by_role("button", name="查询").click()
    await expect(table.locator("caption")).to_contain_text("2030-01-01", timeout=WAIT_MS)
    await expect(table.locator("tbody tr")).to_have_count(1)
    await expect(table.locator('tr[data-unit="humen"] td[data-field="tasks_received"]')).to_have_text("0")
    await page.screenshot(path=str(shots / "stats.png"), full_page=True)

    async with page.expect_download(timeout=WAIT_MS) as info:
        await page.get_by_role("link", name="下载 CSV").click()
    download = await info.value
    assert download.suggested_filename == "tongpin-stats-2030-01-01-2030-01-31.csv"
    raw = await asyncio.to_thread(Path(await download.path()).read_bytes)
    assert raw.startswith(b"\xef\xbb\xbf")  # the byte-order mark: spreadsheets read the Chinese names
    rows = list(csv.DictReader(io.StringIO(raw.decode("utf-8-sig"))))
    assert [r["unit"] for r in rows] == ["humen"]

    # Someone else sees their own unit only.
    humen = await open_signed_in(browser, web_hub, "humen-editor", viewport=PHONE)
    await humen.goto(f"{web_hub.http}/#/stats")
    await expect(humen.locator("#stats tbody tr")).to_have_count(1, timeout=WAIT_MS)
    await expect(humen.get_by_label("单位", exact=True)).to_be_disabled()
    assert await humen.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
    await humen.screenshot(path=str(shots / "stats-phone.png"), full_page=True)
    # In English, the page and each figure's label follow without a reload.
    await humen.get_by_role("button", name="Switch to English").click()
    await expect(humen.get_by_role("heading", name="Assessment statistics")).to_be_visible()
    cell = humen.locator('#stats tr[data-unit="humen"] td[data-field="tasks_received"]')
    await expect(cell).to_have_attribute("data-label", "Tasks received")
    await expect(humen.get_by_role("link", name="Download CSV")).to_be_visible()
    await humen.screenshot(path=str(shots / "stats-phone-en.png"), full_page=True)
    assert page.errors == [] and humen.errors == []
