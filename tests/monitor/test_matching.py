"""Chinese matching and routing on real-looking headlines (``workers.monitor.text`` and ``rules``)."""

from __future__ import annotations

import pytest

from rooms.monitor import Rule
from rooms.seed import units
from workers.monitor.rules import Matcher, place_names
from workers.monitor.text import normalise

UNIT_NAMES = {u.code: u.name_zh for u in units() if u.kind != "city_outlet"}

FLOOD = Rule("rule-flood", "暴雨内涝", any_terms=("暴雨", "内涝", "水浸"), severity="high")
BRIDGE = Rule("rule-bridge", "虎门大桥", any_terms=("虎门大桥",), severity="medium")
FIRE = Rule("rule-fire", "火灾", all_terms=("火灾",), none_terms=("演练", "消防演习"), severity="high")
EXPO = Rule("rule-expo", "展会", any_terms=("展会", "博览会"), severity="low", use_unit_names=False)


def matcher(*rules: Rule) -> Matcher:
    return Matcher(rules or (FLOOD, BRIDGE, FIRE, EXPO), UNIT_NAMES)


@pytest.mark.parametrize(
    ("variant", "plain"),
    [
        ("虎門大橋", "虎门大桥"),  # traditional
        ("虎门 大桥", "虎门大桥"),  # a space in the middle
        ("虎门·大桥！", "虎门大桥"),  # punctuation
        ("ＣＯＶＩＤ－１９疫情", "covid19疫情"),  # full-width Latin, digits and dash
        ("東莞發佈暴雨紅色預警", "东莞发布暴雨红色预警"),
        ("松山湖\u3000科技园", "松山湖科技园"),  # ideographic space
    ],
)
def test_variants_normalise_to_one_form(variant: str, plain: str) -> None:
    assert normalise(variant) == normalise(plain) == plain.casefold()


def test_keywords_are_substrings_of_unspaced_text() -> None:
    found = matcher().match("东莞发布暴雨红色预警，松山湖多处出现内涝", "")
    assert found is not None
    assert found.rules == ("rule-flood",)
    assert found.matched == ("暴雨", "内涝")
    assert found.severity == "high"
    assert (found.unit, found.place) == ("songshanhu", "松山湖")


def test_traditional_full_width_headline_matches_simplified_keywords() -> None:
    found = matcher().match("虎門大橋因強風臨時封閉，車輛請繞行！", "")
    assert found is not None and found.rules == ("rule-bridge",)
    # 虎门 is the town's name without 镇: the bridge alert goes to Humen.
    assert (found.unit, found.place) == ("humen", "虎门")


def test_keyword_written_in_traditional_finds_simplified_text() -> None:
    rule = Rule("rule-t", "traditional keyword", any_terms=("內澇",))
    found = matcher(rule).match("南城街道多处内涝 交警提醒绕行", "")
    assert found is not None and found.matched == ("內澇",)
    assert found.unit == "nancheng"  # 南城街道, full name


def test_no_match_without_keywords() -> None:
    assert matcher().match("松山湖举办科技创新大会", "来自全国的两百多家企业参会") is None


def test_all_and_none_terms() -> None:
    assert matcher(FIRE).match("长安镇一工厂发生火灾 无人员伤亡", "") is not None
    assert matcher(FIRE).match("长安镇开展火灾消防演习", "") is None  # a drill is not news
    assert matcher(FIRE).match("长安镇一工厂冒烟", "未见明火") is None  # all: 火灾 missing


def test_summary_is_searched_but_never_across_title_and_summary() -> None:
    found = matcher().match("市气象台发布预警", "预计今晚有暴雨，请市民注意")
    assert found is not None and found.matched == ("暴雨",)
    # "暴" ends the title and "雨" starts the summary: no match across the two.
    assert matcher().match("今夜有暴", "雨水偏多的季节") is None


def test_first_place_in_text_routes_and_title_wins() -> None:
    found = matcher().match("大朗、寮步两镇暴雨 多处水浸", "东城街道亦有积水")
    assert found is not None and found.unit == "dalang"
    found = matcher().match("全市普降暴雨", "樟木头镇、清溪镇出现内涝")
    assert found is not None and (found.unit, found.place) == ("zhangmutou", "樟木头镇")  # the longer name on a tie


def test_unrouted_when_no_place() -> None:
    found = matcher().match("全市普降暴雨 多处出现内涝", "")
    assert found is not None and found.unit is None and found.place is None


def test_rule_regions_override_and_unit_names_can_be_off() -> None:
    rule = Rule("rule-r", "regions", any_terms=("暴雨",), regions={"科技园": "songshanhu", "可园": "guancheng"})
    found = matcher(rule).match("可园附近暴雨", "")
    assert found is not None and (found.unit, found.place) == ("guancheng", "可园")
    found = matcher(EXPO).match("虎门服装博览会开幕", "")
    assert found is not None and found.unit is None  # use_unit_names is off


def test_highest_severity_and_union_of_matches() -> None:
    found = matcher().match("虎门大桥附近暴雨 车辆绕行", "")
    assert found is not None
    assert set(found.rules) == {"rule-flood", "rule-bridge"}
    assert found.severity == "high"
    assert found.matched == ("暴雨", "虎门大桥")


def test_disabled_rules_are_ignored() -> None:
    off = Rule("rule-off", "off", any_terms=("暴雨",), enabled=False)
    assert matcher(off).match("东莞暴雨", "") is None


def test_place_names_include_short_forms() -> None:
    names = place_names(UNIT_NAMES)
    assert names["虎门镇"] == names["虎门"] == "humen"
    assert names["莞城街道"] == names["莞城"] == "guancheng"
    assert names["滨海湾新区"] == names["滨海湾"] == "binhaiwan"
    assert names["松山湖"] == "songshanhu"
    assert "东莞日报社" not in names  # city outlets are not places
