"""Fixtures for the web client tests: a real hub serving the committed bundle, headless Chromium.

- ``web_hub``: ``tongpin serve`` with authentication on in development mode
  (no ``TONGPIN_SECRET``: dev sign-in works) and a ``/live/publish`` key, so
  tests can publish their own (non-system) events as a trusted service would;
  the system's events come from real actions through the API.
- ``monitor_hub``: the same, with the opinion monitor reading feeds often and
  from loopback, so ``raise_alert`` makes real alerts from a local feed.
- ``browser``: Debian's Chromium (``/usr/bin/chromium``) driven by Python
  Playwright; Playwright's own browser builds are never downloaded. Missing,
  the test is skipped loudly (failed under ``CI=true``).
- ``shots``: where screenshots go (``tests/web/artifacts/``, gitignored);
  the path is printed so a person can look at them.
"""

from __future__ import annotations

import re
import shutil
import time
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import pytest_asyncio

from tests.conftest import HubFactory, HubProcess, unavailable
from tests.monitor.helpers import Entry, Feed, FeedServer, rss

ROOT = Path(__file__).resolve().parents[2]
DIST = ROOT / "clients" / "web" / "dist"
ARTIFACTS = Path(__file__).resolve().parent / "artifacts"
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
PUBLISH_KEY = "web-tests-publish-key-0123456789abcdef"
LAPTOP = {"width": 1280, "height": 860}
PHONE = {"width": 390, "height": 844}
WAIT_MS = 15_000  # for Playwright's expect and waits
MONITOR_ENV = {
    "TONGPIN_MONITOR_TICK": "0.2",
    "TONGPIN_MONITOR_ALLOW_PRIVATE": "1",  # the feed server is on loopback
}


@pytest.fixture
def web_hub(hub_factory: HubFactory) -> HubProcess:
    assert (DIST / "index.html").is_file(), "clients/web/dist is missing: build it (docs/WEB.md)"
    return hub_factory(env={"TONGPIN_AUTH": "required", "TONGPIN_LIVE_PUBLISH_KEYS": PUBLISH_KEY})


@pytest.fixture
def monitor_hub(hub_factory: HubFactory) -> HubProcess:
    assert (DIST / "index.html").is_file(), "clients/web/dist is missing: build it (docs/WEB.md)"
    env = {"TONGPIN_AUTH": "required", "TONGPIN_LIVE_PUBLISH_KEYS": PUBLISH_KEY, **MONITOR_ENV}
    return hub_factory(env=env)


@pytest_asyncio.fixture
async def browser() -> AsyncIterator[Any]:
    if shutil.which(CHROMIUM) is None:
        unavailable("Chromium at /usr/bin/chromium", "run `bash scripts/bootstrap.sh --with-browser` as root")
    try:
        from playwright.async_api import async_playwright
    except ImportError as exc:
        unavailable("Python playwright", exc)
    async with async_playwright() as pw:
        chromium = await pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_FLAGS)
        try:
            yield chromium
        finally:
            await chromium.close()


@pytest.fixture
def shots(request: pytest.FixtureRequest) -> Path:
    where = ARTIFACTS / request.node.name
    where.mkdir(parents=True, exist_ok=True)
    print(f"screenshots: {where}")
    return where


async def open_signed_in(browser: Any, hub: HubProcess, user: str, viewport: dict[str, int] = LAPTOP) -> Any:
    """A new browser context signed in as ``user`` through the development sign-in form; its page."""
    context = await browser.new_context(viewport=viewport, locale="zh-CN")
    return await sign_in(await context.new_page(), hub, user)


async def sign_in(page: Any, hub: HubProcess, user: str) -> Any:
    """Sign ``page`` in as ``user`` (the token lives in the tab's sessionStorage); errors go to ``page.errors``."""
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.errors = errors
    await page.goto(f"{hub.http}/")
    await page.locator("#dev-user").select_option(user)
    await page.locator("form", has=page.locator("#dev-user")).get_by_role("button").click()
    await page.locator("#sessions").wait_for(timeout=WAIT_MS)
    return page


async def token_for(hub: HubProcess, user: str) -> str:
    async with httpx.AsyncClient(base_url=hub.http, timeout=10) as client:
        answer = await client.post("/api/dev/signin", json={"user": user})
    answer.raise_for_status()
    token: str = answer.json()["token"]
    return token


async def api(hub: HubProcess, user: str, method: str, path: str, body: object | None = None) -> Any:
    """One API call as ``user``; the answer's JSON (a 200 or 201 is required)."""
    token = await token_for(hub, user)
    async with httpx.AsyncClient(base_url=hub.http, timeout=10) as client:
        answer = await client.request(method, path, json=body, headers={"Authorization": f"Bearer {token}"})
    assert answer.status_code in (200, 201), answer.text
    return answer.json()


async def submit_topic(hub: HubProcess, user: str, title: str) -> str:
    """A real topic report from ``user``'s unit (``topic.submitted`` on that unit and ``duty``); its id."""
    body = {"title": title, "proposed_date": "2030-01-02", "angle": "现场连线"}
    topic_id: str = (await api(hub, user, "POST", "/api/topics", body))["id"]
    return topic_id


async def raise_alert(hub: HubProcess, feeds: FeedServer, title: str, keyword: str, severity: str = "high") -> None:
    """Make the hub's monitor raise a real alert ``title``: a rule on ``keyword`` and a new feed with that one item.

    ``hub`` is a ``monitor_hub``; the alert follows (``alert.new``) once the monitor has read the feed.
    """
    path = f"/{uuid.uuid4().hex}.xml"
    feeds.feeds[path] = Feed(rss([Entry(title, f"https://news.example{path}", published=time.time())]))
    rule = {"name": f"{keyword}{path[1:7]}", "any": [keyword], "severity": severity}
    await api(hub, "dgrelease-monitor", "POST", "/api/monitor/rules", rule)
    source = {"url": feeds.url(path), "name": f"源{path[1:7]}", "interval": 1}
    await api(hub, "dgrelease-monitor", "POST", "/api/monitor/sources", source)


async def publish(hub: HubProcess, channels: list[str], event_type: str, data: object) -> None:
    """Publish one live event of a trusted service's own type (``POST /live/publish``)."""
    headers = {"Authorization": f"Bearer {PUBLISH_KEY}", "Idempotency-Key": uuid.uuid4().hex}
    body = {"events": [{"channels": channels, "type": event_type, "data": data}]}
    async with httpx.AsyncClient(base_url=hub.http, timeout=10) as client:
        answer = await client.post("/live/publish", json=body, headers=headers)
    assert answer.status_code == 201, answer.text


async def subscribed(page: Any, channel: str) -> None:
    """Wait until the page's /live connection is subscribed to ``channel`` (events after this reach it)."""
    from playwright.async_api import expect

    pattern = re.compile(rf"(^| ){re.escape(channel)}( |$)")
    await expect(page.locator(".conn")).to_have_attribute("data-channels", pattern, timeout=WAIT_MS)
