"""A planning day end to end, on a real ``tongpin serve`` with sign-in on, on each store backend.

Ten people of four units hold ``WS /live`` sockets on the channels their roles
allow. A town reports a topic; the city desk approves it into a planning
session; a town reporter (npm y-websocket) and a city editor (pycrdt) co-write
its draft in Chinese, as paragraphs of the ProseMirror root; the three reviews
pass and the chief editor publishes; the published text is the typed text and
refuses every further edit. A dispatch to the town (its assigner's own
channel hears of it too) goes unanswered past its deadline, the hosted
``dispatch-escalation`` job escalates it to the unit on duty and the
commander, and the town acknowledges it. The audit trail holds every step.

After each step every socket must have received exactly that step's events on
each of its channels, with consecutive offsets: the test waits for them live,
then publishes a mark on every channel (``POST /live/publish``) and reads up to
it, so a missing, extra, repeated or reordered event fails the step.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import functools
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Any

import pytest
from pycrdt import XmlElement, XmlFragment, XmlText

from rooms.workflow import CITY_TZ
from tests.conftest import HubFactory, HubProcess, NodeFactory
from tests.live.helpers import LiveWS
from tests.review.helpers import eventually
from tests.waiting import wait_until
from tests.workflow.client import HUB_BACKENDS, Api, serve
from tests.ypy_client import YClient

pytestmark = [pytest.mark.node, pytest.mark.timeout(120)]

PUBLISH_KEY = "scenario-publish-key-0123456789abcdef"
MARK = "scenario.mark"
SESSION = "haizhan"

# Who holds a /live socket, and the channels beyond user:{me}, unit:{my unit} and city their role allows.
PEOPLE: dict[str, tuple[str, ...]] = {
    "humen-reporter": (),
    "humen-editor": (),
    "dgdaily-editor": (),
    "dgdaily-duty": ("duty",),
    "dgdaily-review1": (),
    "dgdaily-review2": (),
    "dgdaily-review3": (),
    "dgdaily-chief": ("duty",),
    "dgdaily-commander": ("duty",),
}

# What the two units type into the draft: the town's first paragraph, the city's addition to it, and more.
TOWN_LEAD = "虎门海战博物馆完成改造，今日重新开放，"
CITY_ADDS = "市民可在线预约免费参观。"
CITY_LINE = "东莞日报记者与虎门镇融媒体中心联合报道"
TOWN_TAIL = "图：虎门镇供图"
CITY_TAIL = "编辑：东莞日报"
DENIED = "published: the draft is read-only"


def unit_of(user: str) -> str:
    return user.rsplit("-", 1)[0]


@dataclass
class Person:
    """One user's ``/live`` socket: every frame is read here, each event checked for its offset."""

    user: str
    ws: LiveWS
    offsets: dict[str, int] = field(default_factory=dict)  # channel → last offset received
    seen: dict[str, list[dict[str, Any]]] = field(default_factory=dict)  # this step's events, per channel
    marked: set[str] = field(default_factory=set)  # channels whose mark of this step arrived

    def _take(self, frame: dict[str, Any]) -> None:
        if frame["type"] != "event":
            return  # presence of the session's room
        channel = frame["channel"]
        assert frame["offset"] == self.offsets[channel] + 1, f"{self.user}: {channel} skipped or repeated: {frame}"
        self.offsets[channel] = frame["offset"]
        if frame["event"] == MARK:
            self.marked.add(channel)
        else:
            self.seen[channel].append(frame)

    def has(self, want: dict[str, list[str]]) -> bool:
        """Whether as many events as ``want`` names arrived on each channel in this step."""
        return all(len(self.seen[c]) >= len(types) for c, types in want.items())

    def marked_all(self) -> bool:
        return self.marked == set(self.offsets)

    async def read_until(self, done: Callable[[], bool], what: str, within: float) -> None:
        try:
            async with asyncio.timeout(within):
                while not done():
                    self._take(await self.ws.recv(within))
        except TimeoutError:
            got = {c: [e["event"] for e in events] for c, events in self.seen.items()}
            raise AssertionError(f"{self.user} did not receive {what} within {within}s; got {got}") from None

    async def subscribe(self, channel: str) -> dict[str, Any]:
        """Subscribe (events arriving meanwhile are taken as usual); the answer."""
        ident = await self.ws.send(self.ws.command("subscribe", channel=channel))
        async with asyncio.timeout(10):
            while True:
                frame = await self.ws.recv()
                if frame["type"] in ("subscribed", "error") and frame.get("id") == ident:
                    break
                self._take(frame)
        if frame["type"] == "subscribed":
            self.offsets[channel] = frame["offset"]
            self.seen[channel] = []
        return frame


@dataclass
class Newsroom:
    """The hub, its API as the demo people, and the people's ``/live`` sockets."""

    hub: HubProcess
    api: Api
    people: dict[str, Person] = field(default_factory=dict)
    marks: int = 0

    async def join(self, user: str, *channels: str) -> Person:
        ws = await LiveWS(f"ws://127.0.0.1:{self.hub.port}/live?token={await self.api.token(user)}").open()
        person = self.people[user] = Person(user, ws)
        for channel in (f"user:{user}", f"unit:{unit_of(user)}", "city", *channels):
            answer = await person.subscribe(channel)
            assert answer["type"] == "subscribed", answer
        return person

    def channels(self) -> set[str]:
        return {c for p in self.people.values() for c in p.offsets}

    async def mark(self, step: str) -> None:
        self.marks += 1
        events = [{"channels": [c], "type": MARK, "data": {"step": step}} for c in sorted(self.channels())]
        response = await self.api.http.post(
            "/live/publish",
            json={"events": events},
            headers={"Authorization": f"Bearer {PUBLISH_KEY}", "Idempotency-Key": f"mark-{self.marks}"},
        )
        assert response.status_code == 201, response.text

    async def step(self, name: str, expected: dict[str, list[str]], within: float = 10.0) -> dict[str, list[Any]]:
        """Every socket receives exactly ``expected`` (channel → event types, in order); the events' data."""
        assert set(expected) <= self.channels(), f"{name}: nobody listens on {set(expected) - self.channels()}"
        for p in self.people.values():
            want = {c: expected.get(c, []) for c in p.offsets}
            await p.read_until(functools.partial(p.has, want), f"{name}: {want}", within)
        await self.mark(name)
        data: dict[str, list[Any]] = {}
        heard: dict[str, list[tuple[str, int, str]]] = {}
        for p in self.people.values():
            await p.read_until(p.marked_all, f"{name}: the marks", within)
            got = {c: [e["event"] for e in events] for c, events in p.seen.items()}
            assert got == {c: expected.get(c, []) for c in p.offsets}, f"{name}: {p.user} received {got}"
            for channel, events in p.seen.items():
                positions = [(e["epoch"], e["offset"], e["event"]) for e in events]
                assert heard.setdefault(channel, positions) == positions, f"{name}: {channel} differs for {p.user}"
                data.setdefault(channel, [e["data"] for e in events])
            p.seen = {c: [] for c in p.offsets}
            p.marked = set()
        return data

    async def close(self) -> None:
        for person in self.people.values():
            await person.ws.close()


@pytest.fixture(params=HUB_BACKENDS)
async def city(request: pytest.FixtureRequest, hub_factory: HubFactory) -> AsyncIterator[Newsroom]:
    env = {
        "TONGPIN_AUTH": "required",
        "TONGPIN_LIVE_PUBLISH_KEYS": PUBLISH_KEY,
        "TONGPIN_DISPATCH_ESCALATION_INTERVAL": "0.2",
    }
    async with serve(hub_factory, request.param, env) as (hub, api):
        room = Newsroom(hub, api)
        try:
            yield room
        finally:
            await room.close()


def paragraphs(client: YClient) -> list[str]:
    """The text of each paragraph of the pycrdt client's ProseMirror root."""
    root = client.doc.get("default", type=XmlFragment)
    return ["".join(str(t) for t in node.children) for node in root.children if isinstance(node, XmlElement)]


def add_paragraph(client: YClient, text: str) -> None:
    client.doc.get("default", type=XmlFragment).children.append(XmlElement("paragraph", contents=[XmlText(text)]))


def append_to_paragraph(client: YClient, index: int, text: str) -> None:
    node = list(client.doc.get("default", type=XmlFragment).children)[index]
    assert isinstance(node, XmlElement)
    inline = next(iter(node.children))
    assert isinstance(inline, XmlText)
    inline.insert(len(str(inline).encode()), text)  # pycrdt counts text positions in UTF-8 bytes


async def test_a_reported_topic_is_written_reviewed_published_and_a_late_dispatch_escalated(
    city: Newsroom, node_clients: NodeFactory
) -> None:
    api, hub = city.api, city.hub
    on_duty = (await api.ok("GET", "/api/duty", "dgdaily-duty"))["current"]["unit"]
    for user, channels in PEOPLE.items():
        await city.join(user, *channels)
    await city.join(f"{on_duty}-duty", "duty")
    refused = await city.people["humen-reporter"].subscribe("duty")
    assert refused["type"] == "error" and refused["code"] == "forbidden", "a town reporter is not on the duty desk"

    # The city plans a session with the town as member, and opens it.
    body = {"title": "虎门海战博物馆重开报道策划", "member_units": ["humen"], "id": SESSION}
    await api.ok("POST", "/api/sessions", "dgdaily-editor", 201, json=body)
    await city.step("session created", {"unit:dgdaily": ["session.created"], "unit:humen": ["session.created"]})
    for user in PEOPLE:
        answer = await city.people[user].subscribe(f"room:{SESSION}")
        assert answer["type"] == "subscribed", answer
    room = f"room:{SESSION}"
    await api.ok("POST", f"/api/sessions/{SESSION}/open", "dgdaily-editor")
    opened = ["session.opened"]
    await city.step("session opened", {room: opened, "unit:dgdaily": opened, "unit:humen": opened})

    # 1. The town reports a topic; the city desk sees it live.
    tomorrow = (dt.datetime.now(CITY_TZ).date() + dt.timedelta(days=1)).isoformat()
    report = {"title": "虎门海战博物馆重新开放", "angle": "改造后的新展陈", "proposed_date": tomorrow}
    topic = await api.ok("POST", "/api/topics", "humen-reporter", 201, json=report)
    seen = await city.step("topic reported", {"unit:humen": ["topic.submitted"], "duty": ["topic.submitted"]})
    assert seen["duty"][0]["topic"]["id"] == topic["id"] and seen["duty"][0]["topic"]["title"] == report["title"]
    assert seen["duty"][0]["actor"] == "humen-reporter"

    # 2. The desk approves it into the session; the town sees it live, and the draft exists.
    approved = await api.ok("POST", f"/api/topics/{topic['id']}/approve", "dgdaily-duty", json={"session": SESSION})
    assert approved["status"] == "approved" and approved["session"] == SESSION
    draft = approved["draft"]
    seen = await city.step(
        "topic approved",
        {room: ["draft.created"], "unit:humen": ["draft.created", "topic.approved"], "duty": ["topic.approved"]},
    )
    assert seen["unit:humen"][1]["topic"]["draft"] == draft and seen["unit:humen"][1]["actor"] == "dgdaily-duty"
    made = await api.ok("GET", f"/api/sessions/{SESSION}/drafts/{draft}", "humen-reporter")
    assert (made["lead_unit"], made["title"]) == ("humen", report["title"])

    # 3. The town (npm y-websocket) and the city (pycrdt) co-write the draft.
    path = f"{SESSION}/{draft}"
    town = await node_clients("humen-reporter")
    await town.connect(hub.ws_base, path, token=await api.token("humen-reporter"))
    await town.wait_synced()
    desk = YClient(hub.ws_url(SESSION, draft, token=await api.token("dgdaily-editor"), stored="1"))
    await desk.connect()
    await desk.wait_synced()
    await town.call("paragraph", text=TOWN_LEAD)
    await desk.wait_for(lambda: paragraphs(desk) == [TOWN_LEAD], "the town's paragraph")
    append_to_paragraph(desk, 0, CITY_ADDS)
    add_paragraph(desk, CITY_LINE)
    await town.wait("paragraphs", [TOWN_LEAD + CITY_ADDS, CITY_LINE])
    await town.call("paragraph", text=TOWN_TAIL)  # without waiting for each other: both converge on one order
    add_paragraph(desk, CITY_TAIL)
    await desk.wait_for(lambda: len(paragraphs(desk)) == 4, "both last paragraphs")
    typed = paragraphs(desk)
    assert typed[:2] == [TOWN_LEAD + CITY_ADDS, CITY_LINE] and sorted(typed[2:]) == sorted([TOWN_TAIL, CITY_TAIL])
    await town.wait("paragraphs", typed)
    await desk.wait_all_stored()
    text = "\n".join(typed)
    await city.step("co-written", {})

    # 4. Three reviews and the chief editor's signature; the lead unit sees each live.
    base = f"/api/sessions/{SESSION}/drafts/{draft}"
    submitted = await api.ok("POST", f"{base}/submit", "humen-reporter", json={})
    pin = submitted["review"]["pin"]
    assert submitted["review"]["status"] == "submitted" and pin is not None
    await city.step("submitted", {room: ["review.submitted"], "unit:humen": ["review.submitted"]})
    for level, kind in ((1, "review.passed"), (2, "review.passed"), (3, "review.approved")):
        decision = {"decision": "pass", "comment": f"{level}审通过", "pin": pin}
        passed = await api.ok("POST", f"{base}/review", f"dgdaily-review{level}", json=decision)
        pin = passed["review"]["pin"]
        seen = await city.step(f"review {level}", {room: [kind], "unit:humen": [kind]})
        assert seen["unit:humen"][0]["level"] == min(level + 1, 3) and seen["unit:humen"][0]["stale"] is False
    published = await api.ok("POST", f"{base}/publish", "dgdaily-chief", json={"comment": "签发"})
    assert published["review"]["status"] == "published"
    seen = await city.step("published", {room: ["draft.published"], "unit:humen": ["draft.published"]})
    assert seen["unit:humen"][0]["actor"] == "dgdaily-chief"

    versions = (await api.ok("GET", f"{base}/versions", "humen-reporter"))["items"]
    assert len(versions) == 5, "a pin at each step: submit, three passes, publish"
    (final,) = [v["id"] for v in versions if v["kind"] == "published"]
    for version in versions:
        assert (await api.ok("GET", f"{base}/versions/{version['id']}", "humen-reporter"))["text"] == text

    # ...and the published draft refuses further edits, from either client.
    append_to_paragraph(desk, 1, "【改动】")
    await desk.wait_for(lambda: desk.denied == [DENIED], "the pycrdt client's edit refused")
    since = len(town.stderr())
    await town.call("paragraph", text="【再改】")
    await wait_until(lambda: "Permission denied" in town.stderr()[since:], within=10)
    reader = YClient(hub.ws_url(SESSION, draft, token=await api.token("humen-editor")))
    await reader.connect()
    await reader.wait_synced()
    assert paragraphs(reader) == typed
    diff = await api.ok("GET", f"{base}/diff", "humen-reporter", params={"from": final, "to": "current"})
    assert diff["changes"] == [], diff
    for client in (reader, desk):
        await client.close()
    await city.step("edits refused", {})

    # 5. A dispatch to the town, unanswered past its deadline: escalated to the unit on duty and the commander.
    deadline = time.time() + 2
    order = {
        "title": "请报送海战博物馆开放首日客流",
        "priority": "urgent",
        "deadline_at": deadline,
        "recipients": [{"unit": "humen"}],
    }
    task = await api.ok("POST", "/api/tasks", "dgdaily-commander", 201, json=order)
    receipt = task["receipts"][0]["id"]
    escalated = ["task.escalated"]
    seen = await city.step(
        "escalated",
        {
            "unit:humen": ["task.assigned"],
            f"unit:{on_duty}": escalated,
            "duty": escalated,
            "user:dgdaily-commander": ["task.created", *escalated],
        },
        within=20,
    )
    created = seen["user:dgdaily-commander"][0]  # the assigner's other tabs and devices hear of the new task
    assert created == {"task": task, "actor": "dgdaily-commander"}
    assert seen["unit:humen"][0] == created
    late = seen["duty"][0]
    assert late["task"]["id"] == task["id"] and late["on_duty"] == on_duty and late["actor"] is None
    assert late["receipt"]["status"] == "delivered" and late["receipt"]["escalated_at"] >= deadline
    await api.ok("POST", f"/api/tasks/{task['id']}/receipts/{receipt}/acknowledge", "humen-editor")
    seen = await city.step(
        "acknowledged", {"user:dgdaily-commander": ["receipt.updated"], "unit:humen": ["receipt.updated"]}
    )
    answer = seen["user:dgdaily-commander"][0]
    assert answer["receipt"]["status"] == "acknowledged" and answer["actor"] == "humen-editor"
    assert answer["receipt"]["escalated_to"] == on_duty

    # The audit trail has every step: the workflow's and review's rows commit with their changes,
    # the refused writes are recorded by the batched writer (so they are waited for).
    topic_at, task_at = f"topic/{topic['id']}", f"task/{task['id']}"
    receipt_at = f"{task_at}/receipt/{receipt}"
    assert await audit(api, {SESSION, path, topic_at, task_at, receipt_at}) == [
        ("session", SESSION, "create", "dgdaily-editor"),
        ("session", SESSION, "open", "dgdaily-editor"),
        ("topic", topic_at, "submit", "humen-reporter"),
        ("draft", path, "create", "dgdaily-duty"),
        ("topic", topic_at, "approve", "dgdaily-duty"),
        ("review", path, "submit", "humen-reporter"),
        *(("review", path, "pass", f"dgdaily-review{level}") for level in (1, 2, 3)),
        ("publish", path, "publish", "dgdaily-chief"),
        ("task", task_at, "create", "dgdaily-commander"),
        ("receipt", receipt_at, "escalate", None),
        ("receipt", receipt_at, "acknowledge", "humen-editor"),
    ]
    refusals = {("refuse", path, None, "dgdaily-editor"), ("refuse", path, None, "humen-reporter")}
    await eventually(lambda: refused_writes(api, path, refusals), "both refused writes in the audit trail")
    await town.close()


WORKFLOW_AUDIT = ("session", "draft", "topic", "task", "receipt", "review", "publish")


async def audit(api: Api, targets: set[str], actions: tuple[str, ...] = WORKFLOW_AUDIT) -> list[tuple[Any, ...]]:
    """(action, target, step, actor) of the audit rows about ``targets``, oldest first."""
    trail = (await api.ok("GET", "/api/admin/audit", "dgdaily-admin", params={"limit": "1000"}))["events"]
    return [
        (e["action"], e["target"], e["detail"].get("action"), e["actor"])
        for e in trail
        if e["target"] in targets and e["action"] in actions
    ]


async def refused_writes(api: Api, path: str, wanted: set[tuple[Any, ...]]) -> bool:
    return set(await audit(api, {path}, ("refuse",))) == wanted
