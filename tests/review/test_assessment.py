"""The assessment worker on seeded rows, both backends, and ``/api/stats`` with its CSV export.

Rows are written straight into the workflow's and review's tables with times
chosen around a city-day boundary (UTC+8), so every statistic has a known
answer: see ``rooms.assessment`` for the definitions.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import sqlite3
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import asyncpg  # type: ignore[import-untyped,unused-ignore]
import pytest

from rooms.assessment import UnitDay
from rooms.sql import dollar_params
from rooms.workflow import CITY_TZ
from tests.live.helpers import InProcessNode, hub_in_process
from tests.review.helpers import AUTHOR, CHIEF, backend, desk_for
from workers.assessment import Assessment, make_assessment_store

pytestmark = pytest.mark.timeout(60)

DAY = dt.date(2025, 3, 10)
NEXT = DAY + dt.timedelta(days=1)
H = 3600.0


def at(day: dt.date, hour: float) -> float:
    """Unix time of ``hour`` o'clock on ``day`` in the city."""
    return dt.datetime(day.year, day.month, day.day, tzinfo=CITY_TZ).timestamp() + hour * H


# (recipient unit, recipient user, status, delivered, acknowledged, deadline)
RECEIPTS = [
    ("humen", None, "acknowledged", at(DAY, 9), at(DAY, 9) + 600, at(DAY, 10)),  # on time, 600 s
    (None, "humen-editor", "acknowledged", at(DAY, 9), at(DAY, 11), at(DAY, 10)),  # late, 7200 s
    ("humen", None, "delivered", at(DAY, 12), None, at(DAY, 13)),  # never acknowledged
    ("humen", None, "reassigned", at(DAY, 12), None, at(DAY, 13)),  # moved away: not counted
    ("humen", None, "delivered", at(DAY, 23.5), None, at(NEXT, 9)),  # 15:30 UTC: still the 10th here
    ("humen", None, "accepted", at(NEXT, 0.5), at(NEXT, 0.5) + 60, at(NEXT, 9)),  # the 11th; 60 s
    ("changan", None, "acknowledged", at(NEXT, 8), at(NEXT, 8.5), at(NEXT, 9)),  # on time, 1800 s
]
TOPICS = [("humen", "approved", at(DAY, 8)), ("humen", "rejected", at(DAY, 8)), ("humen", "submitted", at(DAY, 9))]
# (draft, action, to status, at): d1 approved 2 h after its submission and published; d2 returned once,
# approved 30 minutes after its second submission.
STEPS = [
    ("d1", "submit", "submitted", at(DAY, 10)),
    ("d1", "pass", "level_2", at(DAY, 10.5)),
    ("d1", "pass", "level_3", at(DAY, 11)),
    ("d1", "pass", "approved", at(DAY, 12)),
    ("d1", "publish", "published", at(DAY, 13)),
    ("d2", "submit", "submitted", at(DAY, 8)),
    ("d2", "return", "editing", at(DAY, 8.5)),
    ("d2", "submit", "submitted", at(DAY, 9)),
    ("d2", "pass", "level_2", at(DAY, 9.1)),
    ("d2", "pass", "level_3", at(DAY, 9.2)),
    ("d2", "pass", "approved", at(DAY, 9.5)),
]

Execute = Callable[[str, tuple[Any, ...]], Awaitable[None]]


async def seed(execute: Execute) -> None:
    t0 = at(DAY, 7)
    for name in ("d1", "d2"):
        await execute(
            "INSERT INTO drafts (session, name, title, lead_unit, created_by, created_at) VALUES (?, ?, ?, ?, ?, ?)",
            ("typhoon-drill", name, "稿件", "humen", AUTHOR, t0),
        )
    for i, (unit, user, status, delivered, acknowledged, deadline) in enumerate(RECEIPTS, 1):
        await execute(
            "INSERT INTO tasks (title, priority, deadline_at, status, assigner, assigner_unit, created_at, "
            "updated_at) VALUES (?, 'normal', ?, 'open', 'dgdaily-commander', 'dgdaily', ?, ?)",
            (f"任务{i}", deadline, delivered, delivered),
        )
        await execute(
            "INSERT INTO receipts (task, recipient_unit, recipient_user, status, delivered_at, acknowledged_at) "
            "VALUES ((SELECT max(id) FROM tasks), ?, ?, ?, ?, ?)",
            (unit, user, status, delivered, acknowledged),
        )
    for unit, status, created in TOPICS:
        await execute(
            "INSERT INTO topics (unit, title, proposed_date, status, created_by, created_at, updated_at) "
            "VALUES (?, '报题', '2025-03-10', ?, ?, ?, ?)",
            (unit, status, AUTHOR, created, created),
        )
    level = {"submitted": 0, "level_2": 1, "level_3": 2, "approved": 3, "published": 3, "editing": 1}
    for name, action, to, when in STEPS:
        await execute(
            "INSERT INTO review_steps (session, name, action, from_status, to_status, level, actor, at) "
            "VALUES ('typhoon-drill', ?, ?, 'editing', ?, ?, 'someone', ?)",
            (name, action, to, level[to], when),
        )


async def seeded(node: InProcessNode, database_url: str | None) -> None:
    if database_url is None:
        db = sqlite3.connect(node.hub.settings.sqlite_path)

        async def run_sqlite(sql: str, args: tuple[Any, ...]) -> None:
            db.execute(sql, args)

        await seed(run_sqlite)
        db.commit()
        db.close()
        return
    conn = await asyncpg.connect(database_url)

    async def run_pg(sql: str, args: tuple[Any, ...]) -> None:
        await conn.execute(dollar_params(sql), *args)

    try:
        async with conn.transaction():
            await seed(run_pg)
    finally:
        await conn.close()


def humen(items: list[dict[str, Any]]) -> dict[str, Any]:
    [row] = [i for i in items if i["unit"] == "humen"]
    return row


@pytest.mark.parametrize("store", ["sqlite", "postgres"])
async def test_the_worker_computes_each_units_days_and_the_api_totals_them(tmp_path: Path, store: str) -> None:
    async with backend(store) as overrides, hub_in_process(tmp_path, **overrides) as node:
        await seeded(node, overrides.get("database_url"))
        worker = Assessment(lambda: make_assessment_store(node.hub.settings))
        written = await worker.tick(at(NEXT, 12))  # the table is empty: every day since the first activity
        assert written == 3  # humen on the 10th and the 11th, changan on the 11th
        days = {(d.unit, d.day): d for d in await node.hub.assessment.days(DAY, NEXT)}
        assert days[("humen", DAY)] == UnitDay(
            "humen", DAY, 4, 1, [600.0, 7200.0], 3, 1, 1, [1800.0, 7200.0], computed_at=at(NEXT, 12)
        )
        assert (days[("humen", NEXT)].tasks_received, days[("humen", NEXT)].ack_seconds) == (1, [60.0])

        async with desk_for(node.http) as desk:
            one_day = await desk.ok(CHIEF, "GET", "/api/stats", params={"from": "2025-03-10", "to": "2025-03-10"})
            assert one_day["from"] == one_day["to"] == "2025-03-10" and one_day["computed_at"] == at(NEXT, 12)
            assert len(one_day["items"]) == 38  # every unit, zeros included
            assert humen(one_day["items"]) == {
                "unit": "humen",
                "name": "虎门镇",
                "tasks_received": 4,
                "tasks_on_time": 1,
                "on_time_rate": 0.25,
                "ack_median_seconds": 3900.0,
                "topics_submitted": 3,
                "topics_adopted": 1,
                "drafts_published": 1,
                "review_median_seconds": 4500.0,
            }
            two = await desk.ok(CHIEF, "GET", "/api/stats", params={"from": "2025-03-10", "to": "2025-03-11"})
            assert humen(two["items"])["tasks_received"] == 5 and humen(two["items"])["ack_median_seconds"] == 600.0
            changan = await desk.ok(
                CHIEF, "GET", "/api/stats", params={"from": "2025-03-11", "to": "2025-03-11", "unit": "changan"}
            )
            assert [(i["unit"], i["tasks_on_time"], i["ack_median_seconds"]) for i in changan["items"]] == [
                ("changan", 1, 1800.0)
            ]
            mine = await desk.ok(AUTHOR, "GET", "/api/stats", params={"from": "2025-03-10", "to": "2025-03-11"})
            assert [i["unit"] for i in mine["items"]] == ["humen"]  # an editor sees their own unit

            # A later tick recomputes only its window; the older days stay as computed.
            assert await worker.tick(at(NEXT + dt.timedelta(days=100), 12)) == 0
            assert len(await node.hub.assessment.days(DAY, NEXT)) == 3


async def test_the_csv_export_opens_in_spreadsheets_and_bad_queries_are_refused(tmp_path: Path) -> None:
    async with hub_in_process(tmp_path, workers="none") as node:
        await seeded(node, None)
        await Assessment(lambda: make_assessment_store(node.hub.settings)).tick(at(NEXT, 12))
        async with desk_for(node.http) as desk:
            response = await desk.call(
                CHIEF, "GET", "/api/stats.csv", params={"from": "2025-03-10", "to": "2025-03-10"}
            )
            assert response.status_code == 200 and response.headers["content-type"] == "text/csv; charset=utf-8"
            assert 'filename="tongpin-stats-2025-03-10-2025-03-10.csv"' in response.headers["content-disposition"]
            assert response.content.startswith(b"\xef\xbb\xbf")  # UTF-8 byte-order mark
            rows = list(csv.DictReader(io.StringIO(response.content.decode("utf-8-sig"))))
            assert len(rows) == 38
            [row] = [r for r in rows if r["unit"] == "humen"]
            assert row == {
                "unit": "humen",
                "name": "虎门镇",
                "from": "2025-03-10",
                "to": "2025-03-10",
                "tasks_received": "4",
                "tasks_on_time": "1",
                "on_time_rate": "0.25",
                "ack_median_seconds": "3900.0",
                "topics_submitted": "3",
                "topics_adopted": "1",
                "drafts_published": "1",
                "review_median_seconds": "4500.0",
            }
            assert next(r for r in rows if r["unit"] == "dgrtv")["ack_median_seconds"] == ""  # no data: empty

            refusals = [
                (AUTHOR, {"unit": "changan"}, 403),
                (CHIEF, {"unit": "atlantis"}, 400),
                (CHIEF, {"from": "2025-3-1"}, 400),
                (CHIEF, {"from": "2025-03-11", "to": "2025-03-10"}, 400),
                (CHIEF, {"from": "2024-01-01", "to": "2025-03-10"}, 400),
            ]
            for user, params, status in refusals:
                for route in ("/api/stats", "/api/stats.csv"):
                    answer = await desk.call(user, "GET", route, params=params)
                    assert answer.status_code == status and "error" in answer.json(), (route, params, answer.text)
            assert (await desk.http.get("/api/stats")).status_code == 401
