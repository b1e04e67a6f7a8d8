"""The ``monitor-fetch`` job against a real feed server: good feeds, bad feeds, every failure at once."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from hub.config import Settings
from rooms.monitor import Actor, AlertQuery, Rule, Source
from tests.monitor.helpers import BACKENDS, Collected, Entry, Feed, FeedServer, atom, json_feed, monitor_store, rss
from workers.monitor.jobs import FetchJob, backoff

pytestmark = pytest.mark.parametrize("backend", BACKENDS)
ME = Actor("dgrelease-monitor", "dgrelease")
FLOOD = Rule("rule-flood", "暴雨内涝", ("暴雨", "内涝", "封闭"), severity="high")

GOOD = {
    "/rss": (rss, [Entry("东莞发布暴雨红色预警 松山湖多处内涝", "https://news.example/rain?utm_source=rss"),
                   Entry("松山湖举办科技创新大会", "https://news.example/expo")]),
    "/atom": (atom, [Entry("虎門大橋因強風臨時封閉", "https://news.example/bridge")]),
    "/json": (json_feed, [Entry("全市普降暴雨", "https://news.example/citywide", "多条道路积水")]),
}  # fmt: skip
FAILING = {
    "/slow": "timed out after 0.5 s",
    "/huge": "over the cap",
    "/500": "HTTP 500",
    "/loop": "more than 3 redirects",
    "/bad.xml": "malformed XML",
    "/missing": "HTTP 404",
}


def settings(**overrides: object) -> Settings:
    values: dict[str, object] = {
        "monitor_max_bytes": 256 * 1024,
        "monitor_max_redirects": 3,
        "duty_fallback_unit": "dgdaily",
        "monitor_allow_private": True,  # the feed server is on loopback
    }
    values.update(overrides)
    return Settings(**values)  # type: ignore[arg-type]


async def test_survives_every_failure_and_keeps_watching_the_good_feeds(backend: str, tmp_path: Path) -> None:
    async with FeedServer() as server, monitor_store(backend, tmp_path) as (store, events, _):
        for path, (build, entries) in GOOD.items():
            server.feeds[path] = Feed(build(entries), etag=f'"{path}-v1"')
        server.feeds["/bad.xml"] = Feed(b"<rss><channel><item><title>broken")
        now = time.time()
        for path in [*GOOD, *FAILING]:
            timeout = 0.5 if path == "/slow" else 5.0
            source = Source(f"src{path.replace('/', '-').replace('.', '-')}", server.url(path), path, 1.0, timeout,
                            created_at=now, updated_at=now)  # fmt: skip
            await store.create_source(source, ME)
        await store.create_rule(FLOOD, ME)
        out = Collected(events)

        async def duty(at: float) -> str | None:
            return "dgrtv"

        job = FetchJob(store, out.publisher, settings(), duty)
        assert await job.tick(time.time()) == 3  # three alerts; the expo item matches nothing

        health = {s.url.rsplit("/", 1)[1]: s for s in await store.sources(limit=50)}
        for path in GOOD:
            s = health[path.strip("/")]
            assert (s.json()["health"], s.failures, s.last_error, s.items_total) == ("ok", 0, None, len(GOOD[path][1]))
        for path, reason in FAILING.items():
            s = health[path.strip("/")]
            assert s.json()["health"] == "failing" and s.failures == 1, s
            assert s.last_error is not None and reason in s.last_error, (path, s.last_error)
            assert s.last_success_at is None and s.next_fetch_at >= s.last_fetch_at + 1.0  # backed off

        alerts = {a.url: a for a in await store.alerts(AlertQuery(limit=50))}
        assert set(alerts) == {"https://news.example/rain?utm_source=rss", "https://news.example/bridge",
                               "https://news.example/citywide"}  # fmt: skip
        assert (
            alerts["https://news.example/rain?utm_source=rss"].unit,
            alerts["https://news.example/rain?utm_source=rss"].routed_by,
        ) == ("songshanhu", "region")
        assert (alerts["https://news.example/bridge"].unit, alerts["https://news.example/bridge"].title) == (
            "humen",
            "虎門大橋因強風臨時封閉",
        )
        assert (alerts["https://news.example/citywide"].unit, alerts["https://news.example/citywide"].routed_by) == (
            "dgrtv",
            "duty",
        )
        assert sorted(e.channel for e in out.announced) == sorted(
            ["alerts", "alerts:songshanhu", "alerts", "alerts:humen", "alerts", "alerts:dgrtv"]
        )

        # Again, from a second worker (no memory of what the first stored): 304s and refused duplicates.
        server.feeds["/rss"].body = rss(
            [*GOOD["/rss"][1], Entry("南城街道多处内涝 交警提醒绕行", "https://news.example/nancheng")]
        )
        server.feeds["/rss"].etag = '"/rss-v2"'
        second = FetchJob(store, out.publisher, settings(), None)
        assert await second.tick(time.time() + 10) == 1
        assert server.not_modified["/atom"] == server.not_modified["/json"] == 1
        newest = (await store.alerts(AlertQuery(limit=1)))[0]
        assert (newest.url, newest.unit) == ("https://news.example/nancheng", "nancheng")
        assert len(await store.alerts(AlertQuery(limit=50))) == 4
        failing = [s for s in await store.sources(limit=50) if s.failures]
        assert sorted(s.name for s in failing) == sorted(FAILING) and all(s.failures == 2 for s in failing)


async def test_unrouted_without_duty_goes_to_the_fallback_unit_or_nowhere(backend: str, tmp_path: Path) -> None:
    async with FeedServer() as server, monitor_store(backend, tmp_path) as (store, events, _):
        server.feeds["/a"] = Feed(json_feed([Entry("全市普降暴雨", "https://news.example/a")]))
        server.feeds["/b"] = Feed(json_feed([Entry("多处道路内涝 请注意绕行", "https://news.example/b")]))
        await store.create_rule(FLOOD, ME)
        now = time.time()
        await store.create_source(Source("src-a", server.url("/a"), "a", 60, 5, created_at=now, updated_at=now), ME)
        out = Collected(events)
        assert await FetchJob(store, out.publisher, settings(), None).tick(time.time()) == 1
        await store.create_source(Source("src-b", server.url("/b"), "b", 60, 5, created_at=now, updated_at=now), ME)
        assert await FetchJob(store, out.publisher, settings(duty_fallback_unit=""), None).tick(time.time()) == 1
        routes = {a.url: (a.unit, a.routed_by) for a in await store.alerts(AlertQuery())}
        assert routes == {"https://news.example/a": ("dgdaily", "fallback"), "https://news.example/b": (None, "none")}
        assert sorted(e.channel for e in out.announced) == ["alerts", "alerts", "alerts:dgdaily"]


def test_backoff_grows_exponentially_with_jitter_and_a_cap(backend: str) -> None:
    for failures in range(1, 8):
        delays = [backoff(failures, 10.0, 300.0) for _ in range(50)]
        top = min(300.0, 10.0 * 2**failures)
        assert all(top / 2 <= d <= top for d in delays)
        assert len(set(delays)) > 1  # jittered
    assert backoff(3, 600.0, 60.0) <= 600.0 * 8  # the cap never goes below the interval
