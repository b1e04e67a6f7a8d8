"""Feed fetches never reach internal addresses unless allowed (``workers.monitor.guard``).

The feed server runs on loopback, so with ``monitor_allow_private`` off every
fetch from it must be refused before a request reaches it: its hit counters
prove that no connection got as far as HTTP.
"""

from __future__ import annotations

import ipaddress
import time
from pathlib import Path

import pytest

from hub.config import Settings
from rooms.monitor import Actor, Rule, Source
from tests.monitor.helpers import Collected, Entry, Feed, FeedServer, monitor_store, rss
from workers.monitor.fetch import FetchError, fetch
from workers.monitor.guard import Guard, client_session, literal_address, refusal
from workers.monitor.jobs import FetchJob

ME = Actor("dgrelease-monitor", "dgrelease")
BODY = rss([Entry("虎门暴雨内涝", "https://news.example/rain")])

REFUSED = [
    "127.0.0.1", "127.8.9.10", "::1", "10.1.2.3", "172.16.0.1", "172.31.255.255", "192.168.1.1",
    "169.254.169.254", "fe80::1", "fc00::1", "fd12:3456::1", "0.0.0.0", "::", "224.0.0.1", "ff02::1",
    "240.0.0.1", "255.255.255.255", "::ffff:127.0.0.1", "::ffff:10.0.0.1", "100.64.0.1", "192.0.2.1",
]  # fmt: skip
ALLOWED = ["8.8.8.8", "114.114.114.114", "203.119.25.1", "2001:4860:4860::8888", "240e:1::1"]


@pytest.mark.parametrize("address", REFUSED)
def test_internal_addresses_are_refused(address: str) -> None:
    assert refusal(ipaddress.ip_address(address)) is not None


@pytest.mark.parametrize("address", ALLOWED)
def test_public_addresses_are_allowed(address: str) -> None:
    assert refusal(ipaddress.ip_address(address)) is None


def test_literal_addresses_in_every_spelling() -> None:
    assert literal_address("127.0.0.1") == ipaddress.ip_address("127.0.0.1")
    assert literal_address("[::1]") == ipaddress.ip_address("::1")
    assert literal_address("127.1") == ipaddress.ip_address("127.0.0.1")
    assert literal_address("0x7f.0.0.1") == ipaddress.ip_address("127.0.0.1")
    assert literal_address("2130706433") == ipaddress.ip_address("127.0.0.1")
    assert literal_address("localhost") is None and literal_address("news.example") is None


def settings(allow_private: bool) -> Settings:
    return Settings(monitor_allow_private=allow_private, monitor_max_redirects=3)


@pytest.mark.parametrize("backend", ["sqlite", "postgres"])
async def test_loopback_sources_fail_with_a_clear_error_and_are_never_connected(backend: str, tmp_path: Path) -> None:
    async with FeedServer() as server, monitor_store(backend, tmp_path) as (store, events, _):
        server.feeds["/rss"] = Feed(BODY)
        urls = {
            "src-direct": server.url("/rss"),
            "src-name": f"http://localhost:{server.port}/rss",
            "src-v6": f"http://[::1]:{server.port}/rss",
            "src-mapped": f"http://[::ffff:127.0.0.1]:{server.port}/rss",
        }
        now = time.time()
        for source_id, url in urls.items():
            await store.create_source(Source(source_id, url, source_id, 1, 5, created_at=now, updated_at=now), ME)
        await store.create_rule(Rule("rule-rain", "暴雨", ("暴雨",)), ME)
        out = Collected(events)

        assert await FetchJob(store, out.publisher, settings(False), None).tick(time.time()) == 0
        assert sum(server.hits.values()) == 0  # refused before any request was sent
        for source in await store.sources():
            assert source.failures == 1 and source.last_error is not None, source
            assert "refused to connect to" in source.last_error, source.last_error
            assert "loopback address" in source.last_error and "TONGPIN_MONITOR_ALLOW_PRIVATE" in source.last_error
        named = await store.source("src-name")
        assert named is not None and named.last_error is not None and "localhost" in named.last_error
        assert out.announced == []

        # The same sources, allowed: the feed is fetched and alerts.
        job = FetchJob(store, out.publisher, settings(True), None)
        assert await job.tick(time.time() + 3600) == 1
        assert server.hits["/rss"] >= 1


async def test_a_redirect_to_a_refused_address_is_not_followed() -> None:
    # The guard here allows 127.0.0.2 only, standing in for a public address; the redirects go to
    # 127.0.0.1 and to localhost, where a second server would answer if it were reached.
    def refuse(address: ipaddress.IPv4Address | ipaddress.IPv6Address) -> str | None:
        return None if address == ipaddress.ip_address("127.0.0.2") else refusal(address)

    async with FeedServer("127.0.0.2") as public, FeedServer() as internal:
        internal.feeds["/secret"] = Feed(BODY)
        public.feeds["/rss"] = Feed(BODY)
        public.redirects["/moved"] = internal.url("/secret")
        public.redirects["/named"] = f"http://localhost:{internal.port}/secret"
        async with client_session(allow_private=False, guard=Guard(refuse)) as session:
            fetched = await fetch(session, public.url("/rss"), within=5, max_bytes=1 << 20, max_redirects=3)
            assert fetched.body == BODY  # the guard lets the allowed address through
            with pytest.raises(FetchError, match=r"refused to connect to 127\.0\.0\.1: .* loopback address"):
                await fetch(session, public.url("/moved"), within=5, max_bytes=1 << 20, max_redirects=3)
            with pytest.raises(FetchError, match="refused to connect to localhost"):
                await fetch(session, public.url("/named"), within=5, max_bytes=1 << 20, max_redirects=3)
        assert public.hits["/moved"] == public.hits["/named"] == 1
        assert sum(internal.hits.values()) == 0
        async with client_session(allow_private=True) as session:  # allowed: the redirect is followed
            fetched = await fetch(session, public.url("/moved"), within=5, max_bytes=1 << 20, max_redirects=3)
        assert fetched.body == BODY and internal.hits["/secret"] == 1
