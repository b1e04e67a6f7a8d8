"""Parsing RSS 2.0, Atom and JSON Feed, and refusing what is not safe (``workers.monitor.feeds``)."""

from __future__ import annotations

import pytest

from tests.monitor.helpers import Entry, FeedServer, atom, json_feed, rss
from workers.monitor.feeds import FeedError, parse_feed

ENTRIES = [
    Entry("虎门大桥因强风临时封闭", "https://news.example/a/1.html", "过往车辆请绕行 <b>注意安全</b>", 1_780_000_000.0),
    Entry("松山湖 &amp; 大朗暴雨", "/a/2.html", "", 1_780_000_060.0),
]


@pytest.mark.parametrize("build", [rss, atom, json_feed])
def test_three_formats_give_the_same_items(build: object) -> None:
    assert callable(build)
    items = parse_feed(build(ENTRIES), "https://news.example/feed.xml")
    assert [i.title for i in items] == ["虎门大桥因强风临时封闭", "松山湖 & 大朗暴雨"]
    assert items[0].summary == "过往车辆请绕行 注意安全"  # HTML reduced to text
    assert [i.url for i in items] == ["https://news.example/a/1.html", "https://news.example/a/2.html"]
    assert [i.published_at for i in items] == [1_780_000_000.0, 1_780_000_060.0]


def test_json_feed_by_content_type_and_unknown_json() -> None:
    assert len(parse_feed(json_feed(ENTRIES), "https://x.example/", "application/feed+json")) == 2
    with pytest.raises(FeedError, match="not a JSON Feed"):
        parse_feed(b'{"hello": "world"}', "https://x.example/")


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        (b"<rss><channel><item><title>unclosed", "malformed XML"),
        (b"\xff\xfe\x00garbage", "malformed XML"),
        (b"<html><body>not a feed</body></html>", "not RSS 2.0, Atom or JSON Feed"),
        (b'{"version": "https://jsonfeed.org/version/1.1", "items": 3}', "without an items list"),
        (b"{not json", "malformed JSON"),
        (b"", "malformed XML"),
    ],
)
def test_malformed_bodies_raise_feed_error(body: bytes, reason: str) -> None:
    with pytest.raises(FeedError, match=reason):
        parse_feed(body, "https://x.example/")


def test_entity_expansion_is_refused() -> None:
    lol = b"".join(f'<!ENTITY l{i} "{f"&l{i - 1};" * 10}">'.encode() for i in range(1, 10))
    bomb = (
        b'<?xml version="1.0"?><!DOCTYPE rss [<!ENTITY l0 "lol">'
        + lol
        + b"]><rss><channel><item><title>&l9;</title></item></channel></rss>"
    )
    with pytest.raises(FeedError, match="EntitiesForbidden"):
        parse_feed(bomb, "https://x.example/")


async def test_external_entities_and_dtds_are_never_fetched() -> None:
    async with FeedServer() as server:
        dtd = server.url("/external.dtd")
        entity = (
            f'<?xml version="1.0"?><!DOCTYPE rss [<!ENTITY leak SYSTEM "{dtd}">]>'
            "<rss><channel><item><title>&leak;</title><link>https://x.example/1</link></item></channel></rss>"
        ).encode()
        with pytest.raises(FeedError, match="EntitiesForbidden"):
            parse_feed(entity, "https://x.example/")
        external_dtd = (
            f'<?xml version="1.0"?><!DOCTYPE rss SYSTEM "{dtd}">'
            "<rss><channel><item><title>plain</title><link>https://x.example/1</link></item></channel></rss>"
        ).encode()
        assert [i.title for i in parse_feed(external_dtd, "https://x.example/")] == ["plain"]
        assert server.hits["/external.dtd"] == 0


def test_items_without_link_or_text_and_non_http_links_are_skipped() -> None:
    body = (
        b"<rss><channel>"
        b"<item><title>no link</title></item>"
        b"<item><link>https://x.example/empty</link></item>"
        b"<item><title>js</title><link>javascript:alert(1)</link></item>"
        b"<item><title>kept</title><guid>https://x.example/guid</guid></item>"
        b"</channel></rss>"
    )
    items = parse_feed(body, "https://x.example/")
    assert [(i.title, i.url) for i in items] == [("kept", "https://x.example/guid")]
