"""Assessment (考核): per-unit statistics by calendar day, and their totals over a period.

Definitions (a day is the city's calendar day, ``rooms.workflow.CITY_TZ``):

| statistic | counts | on the day of |
|---|---|---|
| ``tasks_received`` | receipts of tasks sent to the unit or one of its users, not reassigned away | delivery |
| ``tasks_on_time`` | of those, acknowledged (or answered) by the task's deadline | delivery |
| ``ack_median_seconds`` | median of delivery to acknowledgement, over acknowledged receipts | delivery |
| ``topics_submitted`` | topic reports of the unit | submission |
| ``topics_adopted`` | of those, approved | submission |
| ``drafts_published`` | drafts the unit leads, published | publication |
| ``review_median_seconds`` | median of last submission to approval (三审 passed), drafts it leads | approval |

The assessment worker (``workers.assessment``) stores one ``UnitDay`` per
unit and day with activity; each keeps its durations, so a median over any
range of days is exact (``summarise``). The SQL below is written once with
``?`` placeholders for both backends (``rooms.sql.dollar_params``).
"""

from __future__ import annotations

import datetime as dt
import statistics
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, NamedTuple, Protocol

import orjson

from rooms.workflow import CITY_TZ

__all__ = [
    "Activity",
    "AssessmentStore",
    "UnitDay",
    "UnitStats",
    "city_day",
    "day_row",
    "day_start",
    "summarise",
    "unit_day",
    "unit_days",
]

RECEIPTS = """
SELECT coalesce(r.recipient_unit, u.unit), r.delivered_at, r.acknowledged_at, t.deadline_at
FROM receipts r JOIN tasks t ON t.id = r.task LEFT JOIN users u ON u.id = r.recipient_user
WHERE r.status <> 'reassigned' AND r.delivered_at >= ? AND r.delivered_at < ?
"""
TOPICS = "SELECT unit, created_at, status FROM topics WHERE created_at >= ? AND created_at < ?"
PUBLISHED = """
SELECT d.lead_unit, s.at FROM review_steps s JOIN drafts d ON d.session = s.session AND d.name = s.name
WHERE s.action = 'publish' AND s.at >= ? AND s.at < ?
"""
APPROVED = """
SELECT d.lead_unit, s.at, (
    SELECT max(x.at) FROM review_steps x
    WHERE x.session = s.session AND x.name = s.name AND x.action = 'submit' AND x.at <= s.at
)
FROM review_steps s JOIN drafts d ON d.session = s.session AND d.name = s.name
WHERE s.action = 'pass' AND s.to_status = 'approved' AND s.at >= ? AND s.at < ?
"""
FIRST_ACTIVITY = """
SELECT min(t) FROM (
    SELECT min(delivered_at) AS t FROM receipts
    UNION ALL SELECT min(created_at) FROM topics
    UNION ALL SELECT min(at) FROM review_steps
) AS firsts
"""
ACTIVITY = (RECEIPTS, TOPICS, PUBLISHED, APPROVED)  # ``Activity``'s parts, in its order
DAYS = (
    "SELECT unit, day, tasks_received, tasks_on_time, ack_seconds, topics_submitted, topics_adopted, "
    "drafts_published, review_seconds, computed_at FROM unit_stats WHERE day >= ? AND day <= ?"
)
INSERT_DAY = (
    "INSERT INTO unit_stats (unit, day, tasks_received, tasks_on_time, ack_seconds, topics_submitted, "
    "topics_adopted, drafts_published, review_seconds, computed_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
)


def city_day(at: float) -> dt.date:
    return dt.datetime.fromtimestamp(at, CITY_TZ).date()


def day_start(day: dt.date) -> float:
    return dt.datetime(day.year, day.month, day.day, tzinfo=CITY_TZ).timestamp()


class Activity(NamedTuple):
    """Raw rows for a time range, as the queries above return them."""

    receipts: list[tuple[str, float, float | None, float]]  # unit, delivered_at, acknowledged_at, deadline_at
    topics: list[tuple[str, float, str]]  # unit, created_at, status
    published: list[tuple[str, float]]  # lead unit, at
    approved: list[tuple[str, float, float | None]]  # lead unit, approved at, last submitted at


@dataclass(slots=True)
class UnitDay:
    """One unit's activity on one day, with the durations behind its medians."""

    unit: str
    day: dt.date
    tasks_received: int = 0
    tasks_on_time: int = 0
    ack_seconds: list[float] = field(default_factory=list)
    topics_submitted: int = 0
    topics_adopted: int = 0
    drafts_published: int = 0
    review_seconds: list[float] = field(default_factory=list)
    computed_at: float = 0.0


def unit_days(activity: Activity, computed_at: float) -> list[UnitDay]:
    """Group raw activity by unit and day."""
    days: dict[tuple[str, dt.date], UnitDay] = {}

    def of(unit: str, at: float) -> UnitDay:
        key = (unit, city_day(at))
        found = days.get(key)
        if found is None:
            found = days[key] = UnitDay(unit, key[1], computed_at=computed_at)
        return found

    for unit, delivered, acknowledged, deadline in activity.receipts:
        row = of(unit, delivered)
        row.tasks_received += 1
        if acknowledged is not None:
            row.ack_seconds.append(max(0.0, acknowledged - delivered))
            row.tasks_on_time += acknowledged <= deadline
    for unit, created, status in activity.topics:
        row = of(unit, created)
        row.topics_submitted += 1
        row.topics_adopted += status == "approved"
    for unit, at in activity.published:
        of(unit, at).drafts_published += 1
    for unit, approved, submitted in activity.approved:
        row = of(unit, approved)
        if submitted is not None:
            row.review_seconds.append(max(0.0, approved - submitted))
    for row in days.values():  # a stable order, whatever order the rows came in
        row.ack_seconds.sort()
        row.review_seconds.sort()
    return sorted(days.values(), key=lambda d: (d.day, d.unit))


@dataclass(frozen=True, slots=True)
class UnitStats:
    """One unit's totals over a period."""

    unit: str
    tasks_received: int
    tasks_on_time: int
    ack_median_seconds: float | None
    topics_submitted: int
    topics_adopted: int
    drafts_published: int
    review_median_seconds: float | None

    @property
    def on_time_rate(self) -> float | None:
        return None if not self.tasks_received else round(self.tasks_on_time / self.tasks_received, 4)

    def to_json(self) -> dict[str, Any]:
        return {
            "unit": self.unit,
            "tasks_received": self.tasks_received,
            "tasks_on_time": self.tasks_on_time,
            "on_time_rate": self.on_time_rate,
            "ack_median_seconds": self.ack_median_seconds,
            "topics_submitted": self.topics_submitted,
            "topics_adopted": self.topics_adopted,
            "drafts_published": self.drafts_published,
            "review_median_seconds": self.review_median_seconds,
        }


def _median(values: list[float]) -> float | None:
    return round(statistics.median(values), 1) if values else None


def summarise(days: Iterable[UnitDay], units: Sequence[str]) -> list[UnitStats]:
    """Totals per unit of ``units`` (in that order; zeros for a unit without activity)."""
    by_unit: dict[str, list[UnitDay]] = {unit: [] for unit in units}
    for day in days:
        if day.unit in by_unit:
            by_unit[day.unit].append(day)
    return [
        UnitStats(
            unit,
            sum(d.tasks_received for d in rows),
            sum(d.tasks_on_time for d in rows),
            _median([s for d in rows for s in d.ack_seconds]),
            sum(d.topics_submitted for d in rows),
            sum(d.topics_adopted for d in rows),
            sum(d.drafts_published for d in rows),
            _median([s for d in rows for s in d.review_seconds]),
        )
        for unit, rows in by_unit.items()
    ]


class AssessmentStore(Protocol):
    """Reads the workflow's and review's rows; keeps the per-unit, per-day statistics.

    Backends: ``SqliteAssessmentStore``, ``PostgresAssessmentStore``.
    ``put_days`` replaces every stored day from ``first`` to ``last`` with
    ``days`` in one transaction. Down, every call raises
    ``rooms.store.StoreUnavailable``.
    """

    async def open(self) -> None: ...

    async def close(self) -> None: ...

    async def activity(self, start: float, end: float) -> Activity: ...

    async def first_activity(self) -> float | None: ...

    async def has_days(self) -> bool: ...

    async def put_days(self, first: dt.date, last: dt.date, days: Sequence[UnitDay]) -> int: ...

    async def days(self, first: dt.date, last: dt.date) -> list[UnitDay]: ...


def day_row(day: UnitDay) -> tuple[Any, ...]:
    """``INSERT_DAY``'s values for ``day``."""
    return (
        day.unit,
        day.day.isoformat(),
        day.tasks_received,
        day.tasks_on_time,
        orjson.dumps(day.ack_seconds).decode(),
        day.topics_submitted,
        day.topics_adopted,
        day.drafts_published,
        orjson.dumps(day.review_seconds).decode(),
        day.computed_at,
    )


def unit_day(row: Sequence[Any]) -> UnitDay:
    """A ``DAYS`` row as a ``UnitDay``."""
    return UnitDay(
        row[0],
        dt.date.fromisoformat(row[1]),
        int(row[2]),
        int(row[3]),
        [float(s) for s in orjson.loads(row[4])],
        int(row[5]),
        int(row[6]),
        int(row[7]),
        [float(s) for s in orjson.loads(row[8])],
        float(row[9]),
    )
