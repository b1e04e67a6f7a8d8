"""Demo workflow data, for development mode: a duty rotation and a first morning's work.

- The rotation: the park centres and sub-districts (each has a duty editor
  among the demo people, ``rooms.seed``), a week each, from Monday
  2024-01-01 00:00 in the city's time zone. Stored without events: the
  first unit on duty is not a handover.
- A task from the city command centre to two coastal members of the typhoon
  drill (Shatian, Binhaiwan), so the dispatch pages are not empty.
- With ``TONGPIN_DEMO`` (``scripts/run.sh`` sets it): drafts with some text
  in both demo sessions (one the daily paper writes, one that Humen reported
  as a topic and the city desk approved, one in the dragon-boat session) and
  a topic from Chang'an waiting for the desk, so the first page a new user
  opens has something to edit, review and decide. Tests leave it off: these
  add events to channels (``duty``, ``unit:humen``) whose first offsets the
  live tests check.

Seeding happens once: only the run that stores the rotation (an insert that
does nothing when there is one) adds the rest, so restarts and nodes
starting together add nothing. The changes go through the store's
operations, audited and with their events, which the caller announces; the
drafts' text goes to the document store as one Yjs update each.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from pycrdt import Doc, XmlElement, XmlFragment, XmlText

from rooms.directory import Role, Unit
from rooms.events import Event
from rooms.store import DraftKey, Store
from rooms.workflow import CITY_TZ, Actor, Rotation
from rooms.workflow_store import Recipient, WorkflowStore

__all__ = ["DUTY_ANCHOR", "demo_rotation", "draft_text", "seed_workflow"]

DUTY_ANCHOR = dt.datetime(2024, 1, 1, tzinfo=CITY_TZ).timestamp()  # a Monday
DAY = 86_400.0


def demo_rotation(units: list[Unit]) -> Rotation:
    duty_units = [u.code for u in units if u.kind in ("park", "subdistrict")]
    return Rotation(duty_units, "weekly", DUTY_ANCHOR, "dgdaily-commander")


CITY_EDITOR = Actor("dgdaily-editor", "dgdaily", "city_outlet", frozenset({Role.EDITOR}))
COMMANDER = Actor("dgdaily-commander", "dgdaily", "city_outlet", frozenset({Role.COMMANDER}))
HUMEN_REPORTER = Actor("humen-reporter", "humen", "town", frozenset({Role.REPORTER}))
CHANGAN_EDITOR = Actor("changan-editor", "changan", "town", frozenset({Role.EDITOR}))
WANJIANG_EDITOR = Actor("wanjiang-editor", "wanjiang", "subdistrict", frozenset({Role.EDITOR}))

CITYWIDE = (
    "市三防指挥部今日上午宣布，全市启动防风三级应急响应。",
    "受今年第 11 号台风影响，预计明天夜间至后天白天，我市将出现 8 至 10 级阵风和暴雨到大暴雨。",
    "【待补】各镇街转移安置人数、避风渔船数量，请虎门、长安、沙田和滨海湾新区的同事补充。",
)
HUMEN_PORT = (
    "记者下午在虎门港看到，一艘艘渔船正陆续回港避风，渔民加固缆绳、收起渔网。",
    "【待补】采访渔民和港务人员；配图 3 张，视频 1 条。",
)
DRAGON_BOAT = (
    "龙舟月即将到来，万江、麻涌、中堂、道滘的龙舟队已开始训练。",
    "【提纲】一、各镇街赛事安排；二、非遗传承人讲述；三、观赛交通与安全提示。",
)


def draft_text(paragraphs: tuple[str, ...]) -> bytes:
    """One Yjs update holding ``paragraphs`` as the editor's ProseMirror fragment ``default``."""
    doc: Doc[Any] = Doc()
    fragment = doc.get("default", type=XmlFragment)
    for text in paragraphs:
        fragment.children.append(XmlElement("paragraph", {}, [XmlText(text)]))
    return doc.get_update()


async def seed_workflow(store: WorkflowStore, units: list[Unit], documents: Store | None = None) -> list[Event]:
    """Seed the demo rotation and task once, and with ``documents`` (``TONGPIN_DEMO``) the demo
    topics and drafts with their text; return the events to announce."""
    if not await store.seed_rotation(demo_rotation(units)):
        return []
    now = store.clock()
    today = dt.datetime.fromtimestamp(now, CITY_TZ).date().isoformat()
    events: list[Event] = []
    task = await store.create_task(
        COMMANDER,
        title="请报送辖区防御台风准备情况",
        body="含转移安置点、值守人员和图片素材，今日内回复。",
        priority="high",
        deadline_at=now + DAY,
        recipients=[Recipient("unit", "shatian"), Recipient("unit", "binhaiwan")],
    )
    events += task.events
    if documents is None:
        return events
    texts: dict[DraftKey, tuple[str, ...]] = {}

    citywide = await store.create_draft(
        CITY_EDITOR, "typhoon-drill", title="全市启动防风三级应急响应", lead_unit="dgdaily", name="citywide-response"
    )
    events += citywide.events
    texts[DraftKey("typhoon-drill", "citywide-response")] = CITYWIDE

    port = await store.submit_topic(
        HUMEN_REPORTER,
        title="虎门港渔船回港避风",
        angle="记者实地探访渔港，记录渔船回港和渔民转移安置。",
        proposed_date=today,
        platforms=["报纸", "客户端", "视频号"],
        links=[],
    )
    approved = await store.topic_action(
        CITY_EDITOR, port.value.id, "approve", reason="纳入防台联合报道", session="typhoon-drill"
    )
    events += port.events + approved.events
    if approved.value.draft is not None:
        texts[DraftKey("typhoon-drill", approved.value.draft)] = HUMEN_PORT

    waiting = await store.submit_topic(
        CHANGAN_EDITOR,
        title="长安镇防汛物资储备点探访",
        angle="走进储备仓库，看沙袋、水泵和冲锋舟是否到位。",
        proposed_date=today,
        platforms=["客户端"],
        links=[],
    )
    events += waiting.events

    boat = await store.create_draft(
        WANJIANG_EDITOR, "dragon-boat", title="龙舟月水乡联合报道（提纲）", lead_unit="wanjiang", name="outline"
    )
    events += boat.events
    texts[DraftKey("dragon-boat", "outline")] = DRAGON_BOAT

    await documents.append([(key, draft_text(paragraphs)) for key, paragraphs in texts.items()])
    return events
