"""SQLite assessment store: the embedded default (see ``rooms.assessment.AssessmentStore``).

The store's SQLite file, on a connection of its own owned by one worker thread.
"""

from __future__ import annotations

import datetime as dt
import sqlite3
from collections.abc import Sequence

from rooms.assessment import ACTIVITY, DAYS, FIRST_ACTIVITY, INSERT_DAY, Activity, UnitDay, day_row, unit_day
from rooms.sqlite_store import SqliteDatabase

__all__ = ["SqliteAssessmentStore"]


class SqliteAssessmentStore(SqliteDatabase):
    what = "assessment store"
    thread_name = "sqlite-assessment"

    async def activity(self, start: float, end: float) -> Activity:
        def read(db: sqlite3.Connection) -> Activity:
            db.execute("BEGIN")
            try:
                return Activity(*([tuple(row) for row in db.execute(sql, (start, end)).fetchall()] for sql in ACTIVITY))
            finally:
                db.execute("COMMIT")

        return await self._run(read)

    async def first_activity(self) -> float | None:
        def read(db: sqlite3.Connection) -> float | None:
            value = db.execute(FIRST_ACTIVITY).fetchone()[0]
            return None if value is None else float(value)

        return await self._run(read)

    async def has_days(self) -> bool:
        return await self._run(lambda db: db.execute("SELECT 1 FROM unit_stats LIMIT 1").fetchone() is not None)

    async def put_days(self, first: dt.date, last: dt.date, days: Sequence[UnitDay]) -> int:
        def write(db: sqlite3.Connection) -> int:
            db.execute("DELETE FROM unit_stats WHERE day >= ? AND day <= ?", (first.isoformat(), last.isoformat()))
            db.executemany(INSERT_DAY, [day_row(d) for d in days])
            return len(days)

        return await self._write(write)

    async def days(self, first: dt.date, last: dt.date) -> list[UnitDay]:
        def read(db: sqlite3.Connection) -> list[UnitDay]:
            rows = db.execute(DAYS, (first.isoformat(), last.isoformat())).fetchall()
            return [unit_day(row) for row in rows]

        return await self._run(read)
