"""Managing the monitor in the browser: sources created, edited and deleted;
rules' place keywords (regions) edited and rules deleted; a refused field
(422, message starting with the field's name) said next to that field.

The hub runs with its default address guard, so an internal feed URL is
refused; sources are created disabled, so nothing is fetched from outside.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
from playwright.async_api import expect

from tests.conftest import HubProcess
from tests.web.conftest import PHONE, WAIT_MS, open_signed_in, token_for

USER = "dgrelease-monitor"


async def listed(hub: HubProcess, kind: str) -> list[dict[str, Any]]:
    token = await token_for(hub, USER)
    async with httpx.AsyncClient(base_url=hub.http, timeout=10) as client:
        answer = await client.get(f"/api/monitor/{kind}", headers={"Authorization": f"Bearer {token}"})
    assert answer.status_code == 200, answer.text
    items: list[dict[str, Any]] = answer.json()["items"]
    return items


async def test_sources_created_edited_deleted_with_field_errors(web_hub: HubProcess, browser: Any, shots: Path) -> None:
    page = await open_signed_in(browser, web_hub, USER)
    await page.goto(f"{web_hub.http}/#/monitor")
    sources = page.locator("#monitor-sources")
    await sources.locator("summary", has_text="新建信息源").click()
    url = sources.get_by_label("订阅地址（RSS、Atom 或 JSON Feed 的 http/https 网址）")

    # An internal address: refused by the hub, said under the URL field, focus back there.
    await url.fill("http://10.0.0.5/feed.xml")
    await sources.get_by_label("名称（可选，默认取网址的主机名）").fill("东莞发布")
    await sources.get_by_label("启用").uncheck()
    await sources.get_by_role("button", name="创建信息源").click()
    await expect(url).to_have_attribute("aria-invalid", "true", timeout=WAIT_MS)
    await expect(sources.locator('[data-error-for="url"]')).to_contain_text("url: 10.0.0.5 is a private address")
    await expect(url).to_be_focused()
    await expect(sources.locator('[data-error-for="interval"]')).to_be_empty()

    # A bad interval: said under the interval field; the URL error is gone.
    await url.fill("https://news.example.com/feed.xml")
    interval = sources.get_by_label("抓取间隔（秒，1–86400，默认 300）")
    await interval.fill("0")
    await sources.get_by_role("button", name="创建信息源").click()
    await expect(interval).to_have_attribute("aria-invalid", "true", timeout=WAIT_MS)
    await expect(sources.locator('[data-error-for="interval"]')).to_contain_text("interval:")
    await expect(url).not_to_have_attribute("aria-invalid", "true")
    await page.screenshot(path=str(shots / "source-field-error.png"), full_page=True)

    # Created.
    await interval.fill("120")
    await sources.get_by_role("button", name="创建信息源").click()
    row = sources.locator("[data-source]", has_text="东莞发布")
    await expect(row).to_contain_text("每 120 秒抓取 · 超时 10 秒", timeout=WAIT_MS)
    await expect(row).to_contain_text("已停用")
    [stored] = [s for s in await listed(web_hub, "sources") if s["name"] == "东莞发布"]
    assert stored["url"] == "https://news.example.com/feed.xml" and stored["enabled"] is False

    # Edited: URL, interval, timeout.
    await row.get_by_role("button", name="编辑信息源“东莞发布”").click()
    await expect(url).to_have_value("https://news.example.com/feed.xml")
    await expect(url).to_be_focused()
    await url.fill("https://news.example.com/rss")
    await interval.fill("600")
    await sources.get_by_label("超时（秒，0.5–60，默认 10）").fill("5")
    await sources.get_by_role("button", name="保存修改").click()
    await expect(row).to_contain_text("每 600 秒抓取 · 超时 5 秒", timeout=WAIT_MS)
    await expect(row).to_contain_text("https://news.example.com/rss")
    [stored] = [s for s in await listed(web_hub, "sources") if s["name"] == "东莞发布"]
    assert (stored["interval"], stored["timeout"], stored["url"]) == (600, 5, "https://news.example.com/rss")

    # Deleted, after saying yes; "cancel" keeps it.
    await row.get_by_role("button", name="删除“东莞发布”").click()
    await expect(row.get_by_role("button", name="确定删除")).to_be_focused()
    await row.get_by_role("button", name="取消").click()
    await expect(row.get_by_role("button", name="删除“东莞发布”")).to_be_focused()
    await row.get_by_role("button", name="删除“东莞发布”").click()
    await row.get_by_role("button", name="确定删除").click()
    await expect(row).to_have_count(0, timeout=WAIT_MS)
    assert [s for s in await listed(web_hub, "sources") if s["name"] == "东莞发布"] == []
    assert page.errors == []


async def test_rule_regions_edited_and_rule_deleted_on_a_phone(web_hub: HubProcess, browser: Any, shots: Path) -> None:
    page = await open_signed_in(browser, web_hub, USER, viewport=PHONE)
    await page.goto(f"{web_hub.http}/#/monitor")
    rules = page.locator("#monitor-rules")
    await rules.locator("summary", has_text="新建规则").click()
    await rules.get_by_label("规则名称").fill("内涝")

    # No keyword: the hub names both fields ("any, all: …"); said once, both marked.
    await rules.get_by_role("button", name="创建规则").click()
    anyfield = rules.get_by_label("任一关键词（用逗号或顿号分隔）")
    await expect(anyfield).to_have_attribute("aria-invalid", "true", timeout=WAIT_MS)
    await expect(rules.get_by_label("须全部包含")).to_have_attribute("aria-invalid", "true")
    await expect(rules.locator('[data-error-for="any"]')).to_contain_text("any, all:")
    await expect(rules.locator('[data-error-for="all"]')).to_be_empty()

    # Place keywords: 可园 → 莞城街道.
    await anyfield.fill("内涝、积水")
    await rules.get_by_role("button", name="添加地名").click()
    await expect(rules.get_by_label("地名", exact=True)).to_be_focused()
    await rules.get_by_label("地名", exact=True).fill("可园")
    await rules.get_by_label("单位", exact=True).select_option("guancheng")
    await rules.get_by_role("button", name="创建规则").click()
    rule = rules.locator("[data-rule]", has_text="内涝")
    await expect(rule).to_contain_text("可园 → 莞城街道", timeout=WAIT_MS)
    [stored] = [r for r in await listed(web_hub, "rules") if r["name"] == "内涝"]
    assert stored["regions"] == {"可园": "guancheng"}

    # Edited: 可园 removed, 威远 → 虎门镇 added.
    await rule.get_by_role("button", name="编辑规则“内涝”").click()
    await expect(rules.get_by_label("地名", exact=True)).to_have_value("可园")
    await rules.get_by_role("button", name="移除地名“可园”").click()
    await rules.get_by_role("button", name="添加地名").click()
    await rules.get_by_label("地名", exact=True).fill("威远")
    await rules.get_by_label("单位", exact=True).select_option("humen")
    await rules.get_by_role("button", name="保存修改").click()
    await expect(rule).to_contain_text("威远 → 虎门镇", timeout=WAIT_MS)
    await expect(rule).not_to_contain_text("可园")
    [stored] = [r for r in await listed(web_hub, "rules") if r["name"] == "内涝"]
    assert stored["regions"] == {"威远": "humen"}
    assert await page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
    await page.screenshot(path=str(shots / "rule-regions-phone.png"), full_page=True)

    # Deleted.
    await rule.get_by_role("button", name="删除“内涝”").click()
    await rule.get_by_role("button", name="确定删除").click()
    await expect(rule).to_have_count(0, timeout=WAIT_MS)
    assert [r for r in await listed(web_hub, "rules") if r["name"] == "内涝"] == []
    assert page.errors == []
