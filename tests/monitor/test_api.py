"""The monitor's HTTP API on a real hub (port 0), on both backends: who may do what, validation, lifecycle."""

from __future__ import annotations

import contextlib
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from rooms.monitor import Near, NewAlert
from tests.cluster.services import postgres_schema
from tests.live.helpers import InProcessNode, hub_in_process, mint
from workers.monitor.dedup import simhash, text_key, url_key

pytestmark = pytest.mark.parametrize("backend", ["sqlite", "postgres"])


@contextlib.asynccontextmanager
async def node(backend: str, tmp_path: Path, **settings: Any) -> AsyncIterator[InProcessNode]:
    async with contextlib.AsyncExitStack() as stack:
        extra: dict[str, Any] = {"workers": "none", **settings}
        if backend == "postgres":
            extra["database_url"] = await stack.enter_async_context(postgres_schema())
        yield await stack.enter_async_context(hub_in_process(tmp_path / "hub", **extra))


class Api:
    def __init__(self, node: InProcessNode, http: httpx.AsyncClient) -> None:
        self.node, self.http = node, http

    async def call(self, user: str, method: str, path: str, **kw: Any) -> httpx.Response:
        headers = {"Authorization": f"Bearer {mint(self.node.data_dir, user)}"}
        return await self.http.request(method, f"{self.node.http}{path}", headers=headers, **kw)

    async def ok(self, user: str, method: str, path: str, status: int = 200, **kw: Any) -> Any:
        response = await self.call(user, method, path, **kw)
        assert response.status_code == status, response.text
        return response.json() if response.content else None

    async def error(self, user: str, method: str, path: str, status: int, code: str, **kw: Any) -> dict[str, Any]:
        response = await self.call(user, method, path, **kw)
        assert response.status_code == status, response.text
        body: dict[str, Any] = response.json()["error"]
        assert body["code"] == code, body
        return body


async def add_alert(node: InProcessNode, title: str, url: str, unit: str | None, severity: str = "high") -> str:
    now = time.time()
    alert = NewAlert(title, "", url, "src-x", ("rule-x",), ("暴雨",), severity, unit, "region", now,
                     url_key(url), text_key(title, "", now), simhash(title, ""))  # fmt: skip
    stored = await node.hub.monitor.insert_alert(alert, Near(), now)
    assert stored is not None
    node.hub.live.publisher.announce(stored[1])
    return stored[0].id


async def test_sources_and_rules_are_managed_by_monitors_commanders_and_chief_editors(
    backend: str, tmp_path: Path
) -> None:
    async with node(backend, tmp_path) as n, httpx.AsyncClient(timeout=10) as http:
        api = Api(n, http)
        feed = {"url": "https://feeds.example/dg.xml", "interval": 60, "timeout": 5}
        for user in ("humen-editor", "dgdaily-duty", "humen-viewer"):
            await api.error(user, "POST", "/api/monitor/sources", 403, "forbidden", json=feed)
            await api.error(user, "GET", "/api/monitor/rules", 403, "forbidden")
        made = await api.ok("dgrelease-monitor", "POST", "/api/monitor/sources", 201, json=feed)
        assert (made["name"], made["health"], made["interval"], made["enabled"]) == (
            "feeds.example",
            "pending",
            60.0,
            True,
        )
        await api.ok(
            "dgdaily-commander", "POST", "/api/monitor/sources", 201, json={"url": "http://b.example/", "name": "B"}
        )
        listed = await api.ok("dgdaily-chief", "GET", "/api/monitor/sources?limit=1")
        assert len(listed["items"]) == 1 and listed["next"]
        rest = await api.ok("dgdaily-chief", "GET", f"/api/monitor/sources?limit=1&cursor={listed['next']}")
        assert len(rest["items"]) == 1 and rest["items"][0]["id"] != listed["items"][0]["id"]
        path = f"/api/monitor/sources/{made['id']}"
        changed = await api.ok("dgdaily-chief", "PATCH", path, json={"enabled": False, "timeout": 2.5})
        assert (changed["enabled"], changed["timeout"], changed["last_error"], changed["failures"]) == (
            False,
            2.5,
            None,
            0,
        )
        assert (await api.ok("dgrelease-monitor", "GET", path))["enabled"] is False
        await api.ok("dgrelease-monitor", "DELETE", path, 204)
        await api.error("dgrelease-monitor", "GET", path, 404, "not_found")

        rule = {
            "name": "暴雨内涝",
            "any": ["暴雨", "内涝"],
            "none": ["演练"],
            "regions": {"可园": "guancheng"},
            "severity": "high",
        }
        made = await api.ok("dgrelease-monitor", "POST", "/api/monitor/rules", 201, json=rule)
        assert (made["any"], made["regions"], made["use_unit_names"], made["enabled"]) == (
            ["暴雨", "内涝"],
            {"可园": "guancheng"},
            True,
            True,
        )
        patched = await api.ok(
            "dgdaily-commander", "PATCH", f"/api/monitor/rules/{made['id']}", json={"severity": "low"}
        )
        assert (patched["severity"], patched["any"], patched["created_by"]) == (
            "low",
            ["暴雨", "内涝"],
            "dgrelease-monitor",
        )
        await api.ok("dgdaily-commander", "DELETE", f"/api/monitor/rules/{made['id']}", 204)
        audit = await api.ok("dgdaily-admin", "GET", "/api/admin/audit?action=monitor")
        changes = ["source.create", "source.create", "source.update", "source.delete"]
        changes += ["rule.create", "rule.update", "rule.delete"]
        assert [e["detail"]["change"] for e in audit["events"]] == changes


@pytest.mark.parametrize(
    ("path", "body", "field"),
    [
        ("/api/monitor/sources", {"url": "ftp://feeds.example/x"}, "url"),
        ("/api/monitor/sources", {"url": "https://"}, "url"),
        ("/api/monitor/sources", {"name": "no url"}, "url"),
        ("/api/monitor/sources", {"url": "https://a.example/", "interval": 0}, "interval"),
        ("/api/monitor/sources", {"url": "https://a.example/", "timeout": 600}, "timeout"),
        ("/api/monitor/sources", {"url": "https://a.example/", "enabled": "yes"}, "enabled"),
        ("/api/monitor/sources", {"url": "https://a.example/", "colour": "red"}, "colour"),
        ("/api/monitor/rules", {"name": "x"}, "any, all"),
        ("/api/monitor/rules", {"name": "x", "any": ["!!!"]}, "any"),
        ("/api/monitor/rules", {"name": "x", "any": "暴雨"}, "any"),
        ("/api/monitor/rules", {"name": "x", "any": ["暴雨"], "severity": "urgent"}, "severity"),
        ("/api/monitor/rules", {"name": "x", "any": ["暴雨"], "regions": {"虎门": "atlantis"}}, "regions"),
        ("/api/monitor/rules", {"any": ["暴雨"]}, "name"),
    ],
)
async def test_bad_input_is_a_422_naming_the_field(
    backend: str, tmp_path: Path, path: str, body: Any, field: str
) -> None:
    async with node(backend, tmp_path) as n, httpx.AsyncClient(timeout=10) as http:
        error = await Api(n, http).error("dgrelease-monitor", "POST", path, 422, "invalid", json=body)
        assert error["message"].startswith(field), error


async def test_alert_visibility_lifecycle_refusals_and_live_events(backend: str, tmp_path: Path) -> None:
    async with node(backend, tmp_path) as n, httpx.AsyncClient(timeout=10) as http:
        api = Api(n, http)
        humen_live = await n.client("humen-editor")
        city_live = await n.client("dgrelease-monitor")
        assert (await humen_live.subscribe("alerts:humen"))["type"] == "subscribed"
        assert (await city_live.subscribe("alerts"))["type"] == "subscribed"
        bridge = await add_alert(n, "虎门大桥临时封闭", "https://news.example/bridge", "humen")
        await add_alert(n, "松山湖多处内涝", "https://news.example/lake", "songshanhu")
        announced = (await humen_live.expect("event", event="alert.new"))["data"]
        assert (announced["id"], announced["actor"]) == (bridge, None)

        mine = await api.ok("humen-editor", "GET", "/api/alerts")
        assert [a["id"] for a in mine["items"]] == [bridge] and mine["next"] is None
        await api.error("humen-editor", "GET", "/api/alerts?unit=songshanhu", 403, "forbidden")
        everything = await api.ok("dgdaily-commander", "GET", "/api/alerts?limit=1")
        assert len(everything["items"]) == 1 and everything["next"]
        older = await api.ok("dgdaily-commander", "GET", f"/api/alerts?limit=1&cursor={everything['next']}")
        assert older["items"][0]["id"] == bridge
        assert (await api.ok("dgdaily-duty", "GET", "/api/alerts?unit=songshanhu&status=new"))["items"][0][
            "unit"
        ] == "songshanhu"
        await api.error("dgdaily-duty", "GET", "/api/alerts?status=open", 400, "invalid")
        await api.error("dgdaily-duty", "GET", "/api/alerts?after=yesterday", 400, "invalid")
        today = time.strftime("%Y-%m-%d", time.gmtime(time.time() + 8 * 3600))
        assert len((await api.ok("dgdaily-duty", "GET", f"/api/alerts?after={today}"))["items"]) == 2

        path = f"/api/alerts/{bridge}"
        await api.error("songshanhu-editor", "POST", f"{path}/acknowledge", 404, "not_found")  # not theirs to see
        await api.error("humen-viewer", "POST", f"{path}/acknowledge", 403, "forbidden")  # sees, may not act
        await api.error("dgdaily-chief", "POST", f"{path}/acknowledge", 403, "forbidden")  # sees all, acts on none
        await api.error("humen-editor", "POST", f"{path}/escalate", 404, "not_found")
        await api.error("humen-editor", "POST", "/api/alerts/al-nothing/acknowledge", 404, "not_found")

        acked = await api.ok("humen-editor", "POST", f"{path}/acknowledge")
        assert acked["status"] == "acknowledged" and acked["history"][-1]["actor"] == "humen-editor"
        heard = (await humen_live.expect("event", event="alert.acknowledged"))["data"]
        assert (heard["status"], heard["actor"]) == ("acknowledged", "humen-editor")
        assert (await city_live.expect("event", event="alert.acknowledged"))["data"]["id"] == bridge
        refused = await api.error("humen-editor", "POST", f"{path}/acknowledge", 409, "illegal_transition")
        assert (refused["state"], refused["allowed"]) == ("acknowledged", ["assign", "dismiss", "resolve"])
        await api.error("humen-editor", "POST", f"{path}/assign", 422, "invalid", json={"reason": "no reference"})
        await api.error("humen-editor", "POST", f"{path}/assign", 422, "invalid", json={"topic": "t1", "task": "t2"})
        await api.error("humen-editor", "POST", f"{path}/assign", 422, "invalid", json={"topic": "../etc"})
        await api.error("humen-editor", "POST", f"{path}/assign", 422, "invalid", json={"topic": "999999"})
        assigned = await api.ok(
            "humen-editor", "POST", f"{path}/assign", json={"create": "topic", "reason": "跟进报道"}
        )
        assert (assigned["status"], assigned["history"][-1]["reason"]) == ("assigned", "跟进报道")
        topic = await api.ok("humen-editor", "GET", f"/api/topics/{assigned['topic']}")
        assert (topic["title"], topic["unit"], topic["links"]) == (
            "虎门大桥临时封闭",
            "humen",
            ["https://news.example/bridge"],
        )
        assert (await api.ok("humen-editor", "POST", f"{path}/resolve", json={}))["status"] == "resolved"
        refused = await api.error("humen-editor", "POST", f"{path}/dismiss", 409, "illegal_transition")
        assert (refused["state"], refused["allowed"]) == ("resolved", [])
        shown = await api.ok("humen-editor", "GET", path)
        assert [h["action"] for h in shown["history"]] == ["new", "acknowledge", "assign", "resolve"]
        audit = await api.ok("dgdaily-admin", "GET", "/api/admin/audit?action=alert")
        assert [(e["actor"], e["detail"]["action"]) for e in audit["events"]] == [
            ("humen-editor", "acknowledge"), ("humen-editor", "assign"), ("humen-editor", "resolve")
        ]  # fmt: skip
        await humen_live.close()
        await city_live.close()


async def test_unacknowledged_high_alert_escalates_once_to_the_unit_on_duty(backend: str, tmp_path: Path) -> None:
    settings = {"workers": "alert-escalation", "monitor_ack_timeout": 0.5}
    async with node(backend, tmp_path, **settings) as n, httpx.AsyncClient(timeout=10) as http:
        api = Api(n, http)
        on_duty = await n.hub.workflow.on_duty_unit(time.time())
        assert on_duty is not None  # development mode seeds a rotation
        desk = await n.client("dgdaily-duty")
        assert (await desk.subscribe("duty"))["type"] == "subscribed"
        low = await add_alert(n, "松山湖展会开幕", "https://news.example/expo", "songshanhu", severity="low")
        high = await add_alert(n, "虎门大桥临时封闭", "https://news.example/bridge", "humen", severity="high")
        frame = await desk.expect("event", event="alert.escalated", within=10)
        assert (frame["data"]["id"], frame["data"]["escalated_to"], frame["data"]["status"]) == (high, on_duty, "new")
        assert frame["data"]["actor"] is None, "the escalation job names no actor"
        shown = await api.ok("dgdaily-commander", "GET", f"/api/alerts/{high}")
        assert shown["history"][-1]["action"] == "escalate" and shown["escalated_at"] is not None
        assert (await api.ok("dgdaily-commander", "GET", f"/api/alerts/{low}"))["escalated_at"] is None
        # The unit on duty now sees the alert and may act on it.
        editor = f"{on_duty}-editor"
        assert high in [a["id"] for a in (await api.ok(editor, "GET", "/api/alerts"))["items"]]
        assert (await api.ok(editor, "POST", f"/api/alerts/{high}/acknowledge"))["status"] == "acknowledged"
        acknowledged = (await desk.expect("event", event="alert.acknowledged"))["data"]
        assert (acknowledged["id"], acknowledged["actor"]) == (high, editor)
        escalations = (await api.ok("dgdaily-admin", "GET", "/api/admin/audit?action=alert"))["events"]
        assert [e["detail"]["action"] for e in escalations] == ["escalate", "acknowledge"]  # once
        await desk.close()


async def test_assign_to_an_existing_task_or_a_new_one_with_the_workflow_rights(backend: str, tmp_path: Path) -> None:
    async with node(backend, tmp_path) as n, httpx.AsyncClient(timeout=10) as http:
        api = Api(n, http)
        first = await add_alert(n, "长安镇一工厂发生火灾", "https://news.example/fire", "changan")
        second = await add_alert(n, "长安隧道山体塌方 交通管制", "https://news.example/slide", "changan")
        for alert in (first, second):
            await api.ok("changan-editor", "POST", f"/api/alerts/{alert}/acknowledge")
        task = {"title": "核实火情", "body": "请核实", "priority": "high", "deadline_at": time.time() + 3600,
                "recipients": [{"unit": "changan"}]}  # fmt: skip
        made = await api.ok("dgdaily-commander", "POST", "/api/tasks", 201, json=task)
        await api.error(
            "humen-editor", "POST", f"/api/alerts/{first}/assign", 404, "not_found", json={"task": str(made["id"])}
        )
        assigned = await api.ok("changan-editor", "POST", f"/api/alerts/{first}/assign", json={"task": str(made["id"])})
        assert (assigned["status"], assigned["task"]) == ("assigned", str(made["id"]))
        # A monitor may act on alerts but not dispatch: the workflow refuses, and the alert stays as it was.
        await api.error(
            "dgrelease-monitor", "POST", f"/api/alerts/{second}/assign", 403, "forbidden", json={"create": "task"}
        )
        assert (await api.ok("changan-editor", "GET", f"/api/alerts/{second}"))["status"] == "acknowledged"
        await api.error(
            "changan-editor", "POST", f"/api/alerts/{second}/assign", 422, "invalid", json={"create": "poem"}
        )
        dispatched = await api.ok("dgdaily-commander", "POST", f"/api/alerts/{second}/assign", json={"create": "task"})
        task = await api.ok("dgdaily-commander", "GET", f"/api/tasks/{dispatched['task']}")
        assert (task["title"], task["priority"]) == ("舆情：长安隧道山体塌方 交通管制", "urgent")
        assert [r["recipient"] for r in task["receipts"]] == [{"unit": "changan"}]
        assert 3600 < task["deadline_at"] - time.time() <= 7200
        await api.error(
            "changan-editor", "POST", f"/api/alerts/{first}/assign", 409, "illegal_transition", json={"create": "topic"}
        )
        topics = await api.ok("changan-editor", "GET", "/api/topics")
        assert topics["items"] == []  # nothing was created for the refused assign


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1:8080/feed.xml",
        "http://127.1/feed.xml",
        "http://[::1]/feed.xml",
        "http://[::ffff:127.0.0.1]/feed.xml",
        "http://169.254.169.254/latest/meta-data/",
        "http://10.0.0.5/rss",
        "https://192.168.1.20/rss",
        "http://0.0.0.0/",
        "http://224.0.0.1/",
    ],
)
async def test_internal_ip_urls_are_refused_with_a_422_naming_the_field(backend: str, tmp_path: Path, url: str) -> None:
    async with node(backend, tmp_path) as n, httpx.AsyncClient(timeout=10) as http:
        api = Api(n, http)
        error = await api.error("dgrelease-monitor", "POST", "/api/monitor/sources", 422, "invalid", json={"url": url})
        assert error["message"].startswith("url: ") and "public addresses only" in error["message"], error
        made = await api.ok(
            "dgrelease-monitor", "POST", "/api/monitor/sources", 201, json={"url": "https://a.example/"}
        )
        path = f"/api/monitor/sources/{made['id']}"
        error = await api.error("dgrelease-monitor", "PATCH", path, 422, "invalid", json={"url": url})
        assert error["message"].startswith("url: "), error
        assert (await api.ok("dgrelease-monitor", "GET", path))["url"] == "https://a.example/"  # unchanged
        assert len((await api.ok("dgrelease-monitor", "GET", "/api/monitor/sources"))["items"]) == 1


async def test_internal_ip_urls_are_accepted_when_private_fetches_are_allowed(backend: str, tmp_path: Path) -> None:
    async with node(backend, tmp_path, monitor_allow_private=True) as n, httpx.AsyncClient(timeout=10) as http:
        body = {"url": "http://10.0.0.5:8080/rss"}
        made = await Api(n, http).ok("dgrelease-monitor", "POST", "/api/monitor/sources", 201, json=body)
        assert made["url"] == body["url"]
