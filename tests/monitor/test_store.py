"""The monitor store contract on both backends (``rooms.monitor``)."""

from __future__ import annotations

import asyncio
import itertools
import time
from pathlib import Path

import orjson
import pytest

from hub.config import Settings
from rooms.monitor import (
    STATUSES,
    TRANSITIONS,
    Actor,
    AlertQuery,
    FetchOutcome,
    IllegalTransition,
    Near,
    NewAlert,
    Rule,
    Source,
    alert_json,
)
from tests.monitor.helpers import BACKENDS, monitor_store
from workers.jobs import make_monitor_store
from workers.monitor.dedup import simhash, text_key, url_key

pytestmark = pytest.mark.parametrize("backend", BACKENDS)
EDITOR = Actor("humen-editor", "humen", "127.0.0.1", "n1")
ACTIONS = sorted({a for moves in TRANSITIONS.values() for a in moves})


def new_alert(
    title: str, url: str, *, summary: str = "", unit: str | None = "humen", severity: str = "high"
) -> NewAlert:
    now = time.time()
    return NewAlert(
        title=title, summary=summary, url=url, source="src-1", rules=("rule-1",), matched=("暴雨",),
        severity=severity, unit=unit, routed_by="region", published_at=now - 60,
        url_key=url_key(url), text_key=text_key(title, summary, now), simhash=simhash(title, summary),
    )  # fmt: skip


async def test_sources_and_health(backend: str, tmp_path: Path) -> None:
    async with monitor_store(backend, tmp_path) as (store, _, _):
        now = time.time()
        made = await store.create_source(
            Source("src-a", "http://feeds.example/a", "A", 60, 5, created_at=now, updated_at=now), EDITOR
        )
        await store.create_source(
            Source("src-b", "http://feeds.example/b", "B", 60, 5, created_at=now, updated_at=now), EDITOR
        )
        assert made.json()["health"] == "pending"
        assert [s.id for s in await store.sources()] == ["src-a", "src-b"]
        assert [s.id for s in await store.sources(after="src-a", limit=5)] == ["src-b"]
        assert [s.id for s in await store.due_sources(now, 10)] == ["src-a", "src-b"]

        await store.record_fetch("src-a", FetchOutcome(now, now + 60, etag='"v1"', last_modified="Thu", items=3))
        await store.record_fetch("src-b", FetchOutcome(now, now + 7, error="HTTP 500"))
        await store.record_fetch("src-b", FetchOutcome(now + 1, now + 20, error="timed out after 5 s"))
        a, b = await store.source("src-a"), await store.source("src-b")
        assert a is not None and b is not None
        assert (a.json()["health"], a.etag, a.last_modified, a.items_total, a.last_success_at) == (
            "ok",
            '"v1"',
            "Thu",
            3,
            now,
        )
        assert (b.json()["health"], b.failures, b.last_error, b.last_success_at, b.next_fetch_at) == (
            "failing",
            2,
            "timed out after 5 s",
            None,
            now + 20,
        )
        assert await store.due_sources(now + 30, 10) == [await store.source("src-b")]

        changed = await store.update_source(
            "src-a", {"url": "http://feeds.example/a2", "interval": 30}, EDITOR, now + 2
        )
        assert changed is not None and changed.url.endswith("/a2") and changed.interval == 30
        assert (changed.etag, changed.failures, changed.next_fetch_at) == (None, 0, 0.0)  # a new feed
        assert await store.update_source("src-x", {"name": "x"}, EDITOR, now) is None
        assert await store.update_source("src-b", {"enabled": False}, EDITOR, now) is not None
        assert [s.id for s in await store.due_sources(now + 30, 10)] == ["src-a"]
        assert await store.delete_source("src-b", EDITOR, now) is True
        assert await store.delete_source("src-b", EDITOR, now) is False


async def test_rules(backend: str, tmp_path: Path) -> None:
    async with monitor_store(backend, tmp_path) as (store, _, _):
        now = time.time()
        rule = Rule("rule-a", "暴雨", ("暴雨", "内涝"), ("东莞",), ("演练",), {"可园": "guancheng"}, False, "high",
                    created_by="dgrelease-monitor", created_at=now, updated_at=now)  # fmt: skip
        assert await store.create_rule(rule, EDITOR) == rule
        off = Rule("rule-b", "off", ("x",), enabled=False, created_at=now, updated_at=now)
        await store.create_rule(off, EDITOR)
        assert [r.id for r in await store.rules()] == ["rule-a", "rule-b"]
        assert [r.id for r in await store.rules(enabled_only=True)] == ["rule-a"]
        assert (
            await store.update_rule(Rule("rule-a", "改", ("台风",), updated_at=now + 1, created_at=now), EDITOR)
            is not None
        )
        changed = await store.rule("rule-a")
        assert changed is not None and (changed.name, changed.any_terms, changed.created_by) == (
            "改",
            ("台风",),
            "dgrelease-monitor",
        )
        assert await store.update_rule(Rule("rule-x", "x"), EDITOR) is None
        assert await store.delete_rule("rule-b", EDITOR, now) and not await store.delete_rule("rule-b", EDITOR, now)
        names = await store.unit_names()
        assert names["humen"] == "虎门镇" and "dgdaily" not in names


async def test_alert_dedup_by_url_text_and_near_text(backend: str, tmp_path: Path) -> None:
    async with monitor_store(backend, tmp_path) as (store, events, _):
        near, now = Near(), time.time()
        summary = (
            "受强对流天气影响，东莞市气象台于今日14时发布暴雨红色预警信号，松山湖、大朗、大岭山等地出现短时强降雨。"
        )
        first = await store.insert_alert(
            new_alert("东莞发布暴雨红色预警 松山湖多处内涝", "https://a.example/1?utm_source=x", summary=summary),
            near,
            now,
        )
        assert first is not None
        alert, published = first
        assert alert.status == "new" and alert.history[0]["action"] == "new"
        assert sorted(e.channel for e in published) == ["alerts", "alerts:humen"]
        assert {e.type for e in published} == {"alert.new"}
        assert all(orjson.loads(e.data) == {**alert_json(alert, history=False), "actor": None} for e in published)
        # Same URL with other tracking parameters; same title at another URL; near-identical title.
        assert (
            await store.insert_alert(new_alert("另一个标题", "https://a.example/1?utm_source=y&from=t"), near, now)
            is None
        )
        assert (
            await store.insert_alert(
                new_alert("東莞發佈暴雨紅色預警，松山湖多處內澇！", "https://b.example/9"), near, now
            )
            is None
        )
        assert (
            await store.insert_alert(
                new_alert("东莞发布大暴雨红色预警 松山湖多处内涝", "https://c.example/2", summary=summary), near, now
            )
            is None
        )
        # Another story goes in; so does the near-identical one once it is outside the window.
        assert (
            await store.insert_alert(new_alert("虎门大桥临时封闭", "https://c.example/3", unit=None), near, now)
            is not None
        )
        later = Near(window=60.0)
        assert (
            await store.insert_alert(
                new_alert("东莞发布大暴雨红色预警 松山湖多处内涝", "https://c.example/2", summary=summary),
                later,
                now + 120,
            )
            is not None
        )
        stored = await store.alerts(AlertQuery(limit=10))
        assert [a.url for a in stored] == [
            "https://c.example/2",
            "https://c.example/3",
            "https://a.example/1?utm_source=x",
        ]
        history = await events.read("alerts", 0, 100)
        assert [e.type for e in history.events] == ["alert.new"] * 3


async def test_two_stores_racing_one_alert_store_it_once(backend: str, tmp_path: Path) -> None:
    async with monitor_store(backend, tmp_path) as (store, events, url):
        other = make_monitor_store(Settings(database_url=url))
        await other.open()
        try:
            items = [new_alert(f"第{i}条 暴雨快讯 虎门", f"https://race.example/{i}") for i in range(20)]
            now = time.time()
            results = await asyncio.gather(*(s.insert_alert(a, Near(), now) for a in items for s in (store, other)))
            assert sum(r is not None for r in results) == 20
            assert len(await store.alerts(AlertQuery(limit=100))) == 20
            assert (await events.read("alerts", 0, 100)).position.top == 20
        finally:
            await other.close()


async def test_every_transition_allowed_or_refused_by_the_table(backend: str, tmp_path: Path) -> None:
    async with monitor_store(backend, tmp_path) as (store, _, _):
        now, n = time.time(), itertools.count()

        async def alert_in(state: str) -> str:
            made = await store.insert_alert(
                new_alert(f"{state}状态的警报{next(n)}", f"https://t.example/{next(n)}"), Near(), now
            )
            assert made is not None
            path = {"new": [], "acknowledged": ["acknowledge"], "assigned": ["acknowledge", "assign"],
                    "resolved": ["acknowledge", "resolve"], "dismissed": ["dismiss"]}[state]  # fmt: skip
            for action in path:
                refs = {"topic": "topic-1"} if action == "assign" else {}
                assert await store.transition(made[0].id, action, EDITOR, now, refs=refs) is not None
            return made[0].id

        for state in STATUSES:
            for action in ACTIONS:
                alert_id = await alert_in(state)
                refs = {"task": "task-9"} if action == "assign" else {}
                if action in TRANSITIONS[state]:
                    done = await store.transition(alert_id, action, EDITOR, now + 1, reason="why", refs=refs)
                    assert done is not None
                    alert, published = done
                    assert alert.status == TRANSITIONS[state][action]
                    assert alert.history[-1] == {
                        "at": now + 1,
                        "actor": "humen-editor",
                        "action": action,
                        "reason": "why",
                        **refs,
                    }
                    assert {e.type for e in published} == {f"alert.{alert.status}"}
                    event = {**alert_json(alert, history=False), "actor": "humen-editor"}  # who acted
                    assert all(orjson.loads(e.data) == event for e in published)
                    assert sorted({e.channel for e in published}) == ["alerts", "alerts:humen"]
                    if action == "assign":
                        assert alert.task == "task-9"
                else:
                    with pytest.raises(IllegalTransition) as refused:
                        await store.transition(alert_id, action, EDITOR, now + 1, refs=refs)
                    assert refused.value.state == state
                    assert refused.value.allowed == sorted(TRANSITIONS[state])
                    unchanged = await store.alert(alert_id)
                    assert unchanged is not None and unchanged.status == state
        assert await store.transition("al-missing", "acknowledge", EDITOR, now) is None


async def test_escalation_once_for_unacknowledged_high_alerts(backend: str, tmp_path: Path) -> None:
    async with monitor_store(backend, tmp_path) as (store, _, _):
        now = time.time()
        high = await store.insert_alert(
            new_alert("高危 暴雨", "https://e.example/1", severity="high"), Near(), now - 100
        )
        low = await store.insert_alert(new_alert("低危 展会", "https://e.example/2", severity="low"), Near(), now - 100)
        acked = await store.insert_alert(new_alert("已确认 内涝", "https://e.example/3"), Near(), now - 100)
        fresh = await store.insert_alert(new_alert("新的 水浸", "https://e.example/4"), Near(), now)
        assert high and low and acked and fresh
        await store.transition(acked[0].id, "acknowledge", EDITOR, now - 50)
        escalated = await store.escalate(now - 60, "dgdaily", now)
        assert [a.id for a, _ in escalated] == [high[0].id]
        alert, published = escalated[0]
        assert (alert.escalated_to, alert.escalated_at, alert.status) == ("dgdaily", now, "new")
        assert sorted(e.channel for e in published) == ["alerts", "alerts:dgdaily", "alerts:humen", "duty"]
        assert {e.type for e in published} == {"alert.escalated"}
        assert all(orjson.loads(e.data) == {**alert_json(alert, history=False), "actor": None} for e in published)
        assert await store.escalate(now - 60, "dgdaily", now + 1) == []  # once
        assert [a.id for a in await store.alerts(AlertQuery(unit="dgdaily"))] == [high[0].id]
