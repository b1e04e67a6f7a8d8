"""Parsing RSS 2.0, RSS 1.0, Atom and JSON Feed, and refusing what is not safe (``workers.monitor.feeds``)."""

from __future__ import annotations

import pytest

from tests.monitor.helpers import Entry, FeedServer, atom, json_feed, rdf, rss
from workers.monitor.feeds import FeedError, parse_feed

ENTRIES = [
    Entry("虎门大桥因强风临时封闭", "https://news.example/a/1.html", "过往车辆请绕行 <b>注意安全</b>", 1_780_000_000.0),
    Entry("松山湖 &amp; 大朗暴雨", "/a/2.html", "", 1_780_000_060.0),
]


@pytest.mark.parametrize("build", [rss, rdf, atom, json_feed])
def test_every_format_gives_the_same_items(build: object) -> None:
    assert callable(build)
    items = parse_feed(build(ENTRIES), "https://news.example/feed.xml")
    assert [i.title for i in items] == ["虎门大桥因强风临时封闭", "松山湖 & 大朗暴雨"]
    assert items[0].summary == "过往车辆请绕行 注意安全"  # HTML reduced to text
    assert [i.url for i in items] == ["https://news.example/a/1.html", "https://news.example/a/2.html"]
    assert [i.published_at for i in items] == [1_780_000_000.0, 1_780_000_060.0]


# As a news portal's CMS publishes it: an RDF channel with an image and an item sequence, Dublin Core
# dates in China time (one without seconds), an item with HTML in CDATA, one in traditional characters,
# one whose link is relative and one with only its rdf:about.
RSS1_FEED = """<?xml version="1.0" encoding="UTF-8"?>
<rdf:RDF
  xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#"
  xmlns="http://purl.org/rss/1.0/"
  xmlns:dc="http://purl.org/dc/elements/1.1/"
  xmlns:content="http://purl.org/rss/1.0/modules/content/">
  <channel rdf:about="http://www.sun0769.example/rss/news.rdf">
    <title>阳光热线问政平台 - 最新问政</title>
    <link>http://www.sun0769.example/</link>
    <description>东莞市民问政、投诉与回复</description>
    <dc:language>zh-cn</dc:language>
    <image rdf:resource="http://www.sun0769.example/logo.gif"/>
    <items>
      <rdf:Seq>
        <rdf:li rdf:resource="http://www.sun0769.example/question/1024.shtml"/>
        <rdf:li rdf:resource="http://www.sun0769.example/question/1025.shtml"/>
        <rdf:li rdf:resource="http://www.sun0769.example/question/1026.shtml"/>
        <rdf:li rdf:resource="http://www.sun0769.example/question/1027.shtml"/>
      </rdf:Seq>
    </items>
  </channel>
  <image rdf:about="http://www.sun0769.example/logo.gif">
    <title>阳光热线</title><url>http://www.sun0769.example/logo.gif</url><link>http://www.sun0769.example/</link>
  </image>
  <item rdf:about="http://www.sun0769.example/question/1024.shtml">
    <title>虎门镇连升路暴雨后严重内涝，积水半米深</title>
    <link>http://www.sun0769.example/question/1024.shtml</link>
    <description><![CDATA[<p>今早<b>7点</b>起，连升路段积水严重，多辆汽车熄火。</p>]]></description>
    <dc:creator>市民李先生</dc:creator>
    <dc:subject>城市管理</dc:subject>
    <dc:date>2026-06-01T08:30:15+08:00</dc:date>
  </item>
  <item rdf:about="http://www.sun0769.example/question/1025.shtml">
    <title>長安鎮錦廈路口紅綠燈故障</title>
    <link>/question/1025.shtml</link>
    <description>路口信号灯已故障两天，早晚高峰拥堵。</description>
    <dc:date>2026-06-01T09:05+08:00</dc:date>
  </item>
  <item rdf:about="http://www.sun0769.example/question/1026.shtml">
    <title>松山湖园区工地夜间施工噪音扰民</title>
    <content:encoded><![CDATA[<p>工地每晚施工到凌晨两点。</p>]]></content:encoded>
    <dc:date>2026-06-01T23:59:59Z</dc:date>
  </item>
  <item rdf:about="http://www.sun0769.example/question/1027.shtml">
    <title>没有日期的问政</title>
    <link>http://www.sun0769.example/question/1027.shtml</link>
  </item>
</rdf:RDF>
""".encode()


def test_rss_1_0_rdf_feed() -> None:
    items = parse_feed(RSS1_FEED, "http://www.sun0769.example/rss/news.rdf", "application/rdf+xml")
    assert [i.title for i in items] == [
        "虎门镇连升路暴雨后严重内涝，积水半米深",
        "長安鎮錦廈路口紅綠燈故障",
        "松山湖园区工地夜间施工噪音扰民",
        "没有日期的问政",
    ]
    assert [i.url for i in items] == [f"http://www.sun0769.example/question/{n}.shtml" for n in range(1024, 1028)]
    assert items[0].summary == "今早 7点 起，连升路段积水严重，多辆汽车熄火。"
    assert items[2].summary == "工地每晚施工到凌晨两点。"
    assert [i.published_at for i in items] == [
        1_780_273_815.0,  # 2026-06-01 00:30:15 UTC
        1_780_275_900.0,  # 09:05 China time, no seconds
        1_780_358_399.0,
        None,
    ]


def test_json_feed_by_content_type_and_unknown_json() -> None:
    assert len(parse_feed(json_feed(ENTRIES), "https://x.example/", "application/feed+json")) == 2
    with pytest.raises(FeedError, match="not a JSON Feed"):
        parse_feed(b'{"hello": "world"}', "https://x.example/")


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        (b"<rss><channel><item><title>unclosed", "malformed XML"),
        (b"\xff\xfe\x00garbage", "malformed XML"),
        (b"<html><body>not a feed</body></html>", "not RSS 2.0, RSS 1.0, Atom or JSON Feed"),
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
