"""The pure parts: the transition table, who may act, document text, line diffs, pin comparison."""

from __future__ import annotations

from typing import Any

import pytest
from pycrdt import Array, Doc, Map, Text, XmlElement, XmlFragment, XmlText

from hub.review import adds_to
from rooms.directory import Room
from rooms.doc_text import document_text, line_diff
from rooms.review import FINAL, TRANSITIONS, Action, Status, allowed, level_of, may, may_see

ROOM = Room("typhoon-drill", "防御台风", "dgdaily", frozenset({"humen", "dgrtv"}))


def test_the_table_walks_three_levels_and_ends_in_published_or_rejected() -> None:
    path, status = [], Status.EDITING
    for action in (Action.SUBMIT, Action.PASS, Action.PASS, Action.PASS, Action.PUBLISH):
        status = TRANSITIONS[(status, action)]
        path.append(status)
    assert path == [Status.SUBMITTED, Status.LEVEL_2, Status.LEVEL_3, Status.APPROVED, Status.PUBLISHED]
    assert [level_of(s) for s in path] == [1, 2, 3, 3, 0]
    for final in FINAL:
        assert allowed(final) == [] and not any(s is final for s, _ in TRANSITIONS)
    for status in (Status.SUBMITTED, Status.LEVEL_2, Status.LEVEL_3, Status.APPROVED):
        assert TRANSITIONS[(status, Action.RETURN)] is Status.EDITING
        assert TRANSITIONS[(status, Action.REJECT)] is Status.REJECTED
        assert TRANSITIONS[(status, Action.PIN)] is status
        assert "reopen" not in allowed(status)  # the hub's own action, never offered
    assert allowed(Status.EDITING) == ["submit"]
    assert allowed(Status.LEVEL_2, stale=True) == ["pin", "return", "reject"]
    assert allowed(Status.APPROVED, stale=True) == ["pin", "return", "reject"]


def who(roles: set[str], unit: str, action: Action, status: Status, *, may_edit: bool = True) -> bool:
    return may(action, status, roles=frozenset(roles), unit=unit, may_edit=may_edit, room=ROOM, lead_unit="humen")


def test_who_may_act() -> None:
    assert who({"editor"}, "humen", Action.SUBMIT, Status.EDITING)  # the lead unit
    assert who({"reporter"}, "dgdaily", Action.SUBMIT, Status.EDITING)  # the owner unit
    assert not who({"editor"}, "dgrtv", Action.SUBMIT, Status.EDITING)  # another member unit
    assert not who({"viewer"}, "humen", Action.SUBMIT, Status.EDITING, may_edit=False)
    assert who({"reviewer_1"}, "dgrtv", Action.PASS, Status.SUBMITTED)  # any unit of the session
    assert not who({"reviewer_1"}, "wanjiang", Action.PASS, Status.SUBMITTED)  # not of the session
    assert not who({"reviewer_2"}, "dgdaily", Action.PASS, Status.SUBMITTED)
    assert who({"reviewer_3"}, "dgdaily", Action.RETURN, Status.APPROVED)
    assert who({"chief_editor"}, "wanjiang", Action.PASS, Status.LEVEL_3)  # chief editors: any session
    assert who({"chief_editor"}, "wanjiang", Action.PUBLISH, Status.APPROVED)
    assert not who({"reviewer_3"}, "dgdaily", Action.PUBLISH, Status.APPROVED)
    assert who({"editor"}, "humen", Action.PIN, Status.LEVEL_2)  # authors pin again after an edit
    assert not who({"editor"}, "humen", Action.PIN, Status.APPROVED)  # but not an approved draft
    assert who({"reviewer_3"}, "dgdaily", Action.PIN, Status.APPROVED)
    assert may_see(roles=frozenset({"viewer"}), unit="humen", room=ROOM)
    assert not may_see(roles=frozenset({"editor"}), unit="wanjiang", room=ROOM)
    assert may_see(roles=frozenset({"commander"}), unit="wanjiang", room=ROOM)


def prosemirror_doc() -> Doc[Any]:
    doc: Doc[Any] = Doc()
    fragment = doc.get("default", type=XmlFragment)
    fragment.children.append(XmlElement("heading", {"level": "2"}, [XmlText("标题")]))
    fragment.children.append(XmlElement("paragraph"))  # an empty paragraph: an empty line
    item = XmlElement("paragraph", {}, [XmlText("第一项")])
    fragment.children.append(XmlElement("bulletList", {}, [XmlElement("listItem", {}, [item])]))
    return doc


@pytest.mark.parametrize(
    ("build", "text"),
    [
        (prosemirror_doc, "标题\n\n第一项"),
        (lambda: _text_doc("default", "纯文本\n第二行"), "纯文本\n第二行"),
        (lambda: _text_doc("t", "y-websocket 测试"), "y-websocket 测试"),
        (lambda: Doc(), ""),
    ],
    ids=["xml-fragment", "text-default", "text-other-root", "empty"],
)
def test_document_text_reads_fragments_and_texts(build: Any, text: str) -> None:
    assert document_text(build().get_update()) == text


def _text_doc(root: str, value: str) -> Doc[Any]:
    doc: Doc[Any] = Doc()
    doc.get(root, type=Text).insert(0, value)
    return doc


def test_document_text_joins_roots_default_first_and_skips_maps_and_arrays() -> None:
    doc = prosemirror_doc()
    doc.get("a-notes", type=Text).insert(0, "备注")
    doc.get("meta", type=Map)["author"] = "黄编辑"
    doc.get("list", type=Array).append("x")
    assert document_text(doc.get_update()) == "标题\n\n第一项\n\n备注"


def test_line_diff_is_unified_and_structured() -> None:
    diff = line_diff("甲\n乙\n丙", "甲\n乙改\n丙\n丁", old_name="3", new_name="4")
    assert diff["unified"].splitlines()[:3] == ["--- 3", "+++ 4", "@@ -1,3 +1,4 @@"]
    assert diff["changes"] == [
        {"op": "replace", "old": [1, 2], "new": [1, 2], "removed": ["乙"], "added": ["乙改"]},
        {"op": "insert", "old": [3, 3], "new": [3, 4], "removed": [], "added": ["丁"]},
    ]
    assert (diff["added"], diff["removed"]) == (2, 1)
    assert line_diff("同", "同", old_name="a", new_name="b") == {"unified": "", "changes": [], "added": 0, "removed": 0}


def test_a_pin_is_stale_after_inserts_and_after_pure_deletions() -> None:
    doc = _text_doc("t", "原文不变")
    pin = doc.get_update()
    assert not adds_to(pin, doc.get_update())
    assert not adds_to(pin, Doc().get_update())  # a state behind the pin adds nothing
    text = doc.get("t", type=Text)
    del text[0:3]  # "原" is three bytes: a deletion only
    assert adds_to(pin, doc.get_update())
    text.insert(0, "新")
    assert adds_to(pin, doc.get_update())
