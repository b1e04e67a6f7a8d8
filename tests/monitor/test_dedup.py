"""One story, one alert: canonical URLs, normalised titles, SimHash (``workers.monitor.dedup``)."""

from __future__ import annotations

import itertools

import pytest

from rooms.monitor import hamming
from workers.monitor.dedup import canonical_url, simhash, text_key, url_key

NOW = 1_780_000_000.0  # a fixed moment (2026-05-28, China time)

RAIN = (
    "受强对流天气影响，东莞市气象台于今日14时发布暴雨红色预警信号，松山湖、大朗、大岭山等地出现短时强降雨，"
    "多处道路积水内涝，请市民注意出行安全。"
)
BRIDGE = (
    "受台风外围环流影响，虎门大桥今日上午10时起临时封闭，预计持续至傍晚，过往车辆请提前规划路线绕行，"
    "具体开放时间以交警部门通告为准。"
)


@pytest.mark.parametrize(
    "shared",
    [
        "https://news.example/a/123.html?utm_source=wechat&utm_medium=social",
        "http://www.news.example/a/123.html?from=timeline#comments",
        "https://NEWS.example:443/a/123.html?spm=a2c4g.11186623&fbclid=IwAR0",
        "https://news.example/a/123.html?scene=1&chksm=abc&isappinstalled=0",
    ],
)
def test_tracking_parameters_fragments_scheme_and_www_do_not_count(shared: str) -> None:
    assert canonical_url(shared) == "//news.example/a/123.html"
    assert url_key(shared) == url_key("https://news.example/a/123.html")


def test_meaningful_parameters_count_and_are_sorted() -> None:
    a = url_key("https://mp.example/s?__biz=MzA&mid=2650&idx=1&sn=9f3")
    assert a == url_key("https://mp.example/s?sn=9f3&idx=1&mid=2650&__biz=MzA&scene=21")
    assert a != url_key("https://mp.example/s?__biz=MzA&mid=2650&idx=2&sn=9f3")
    assert url_key("https://news.example:8080/a") != url_key("https://news.example/a")


def test_text_key_ignores_punctuation_spacing_width_and_script() -> None:
    base = text_key("东莞发布暴雨红色预警 松山湖多处内涝", "", NOW)
    for variant in (
        "东莞发布暴雨红色预警，松山湖多处内涝！",
        "東莞發佈暴雨紅色預警 松山湖多處內澇",
        "东莞发布暴雨红色预警松山湖多处内涝",
    ):
        assert text_key(variant, "other summary", NOW) == base
    assert text_key("东莞发布暴雨橙色预警 松山湖多处内涝", "", NOW) != base


def test_short_generic_titles_add_the_summary_and_keys_renew_daily() -> None:
    assert text_key("快讯", "虎门大桥临时封闭", NOW) != text_key("快讯", "松山湖多处内涝", NOW)
    assert text_key("虎门大桥临时封闭", "", NOW) != text_key("虎门大桥临时封闭", "", NOW + 86400)


# The measurements docs/MONITOR.md and workers/monitor/dedup.py quote.
SAME_STORY = [
    (("东莞发布暴雨红色预警 松山湖多处内涝", RAIN), ("东莞发布大暴雨红色预警 松山湖多处内涝", RAIN)),
    (("东莞发布暴雨红色预警 松山湖多处内涝", RAIN), ("东莞暴雨红色预警：松山湖多处出现内涝", RAIN)),
]
OTHER_PLACE = [
    (("虎门大桥因强风临时封闭 车辆绕行", BRIDGE), ("长安大桥因强风临时封闭 车辆绕行", BRIDGE.replace("虎门", "长安"))),
]


def distance(a: tuple[str, str], b: tuple[str, str]) -> int:
    x, y = simhash(*a), simhash(*b)
    assert x is not None and y is not None
    return hamming(x, y)


def test_simhash_near_identical_titles_are_within_three_bits() -> None:
    for a, b in SAME_STORY:
        assert distance(a, b) <= 3


def test_simhash_keeps_other_places_and_other_stories_apart() -> None:
    for a, b in OTHER_PLACE:
        assert distance(a, b) >= 10
    stories = [("东莞发布暴雨红色预警 松山湖多处内涝", RAIN), ("虎门大桥因强风临时封闭 车辆绕行", BRIDGE)]
    for a, b in itertools.combinations(stories, 2):
        assert distance(a, b) >= 20


def test_simhash_is_a_signed_64_bit_integer_and_stable() -> None:
    values = [simhash(t, s) for (t, s), _ in SAME_STORY]
    assert all(v is not None and -(2**63) <= v < 2**63 for v in values)
    assert values == [simhash(t, s) for (t, s), _ in SAME_STORY]


def test_short_texts_get_no_simhash() -> None:
    """Bare templated titles come within 3 bits of each other: they are compared by their keys only."""
    titles = [f"{place}暴雨内涝通报 第{k}号" for k, place in enumerate(["虎门", "长安", "松山湖"] * 70)]
    assert {simhash(t, "") for t in titles} == {None}
    assert simhash("虎门大桥临时封闭", BRIDGE) is not None
