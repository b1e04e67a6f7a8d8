"""PostgreSQL assessment store, for a cluster (see ``rooms.assessment.AssessmentStore``).

The same SQL as the SQLite store, with ``$n`` placeholders (``rooms.sql.dollar_params``).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import Any

from rooms.assessment import ACTIVITY, DAYS, FIRST_ACTIVITY, INSERT_DAY, Activity, UnitDay, day_row, unit_day
from rooms.postgres_store import PostgresPool
from rooms.sql import dollar_params

__all__ = ["PostgresAssessmentStore"]


class PostgresAssessmentStore(PostgresPool):
    what = "assessment store"

    async def activity(self, start: float, end: float) -> Activity:
        async def read(conn: Any) -> Activity:
            async with conn.transaction(isolation="repeatable_read", readonly=True):
                parts = [[tuple(row) for row in await conn.fetch(dollar_params(sql), start, end)] for sql in ACTIVITY]
            return Activity(*parts)

        return await self._run(read)

    async def first_activity(self) -> float | None:
        async def read(conn: Any) -> float | None:
            value = await conn.fetchval(FIRST_ACTIVITY)
            return None if value is None else float(value)

        return await self._run(read)

    async def has_days(self) -> bool:
        async def read(conn: Any) -> bool:
            return bool(await conn.fetchval("SELECT EXISTS (SELECT 1 FROM unit_stats)"))

        return await self._run(read)

    async def put_days(self, first: dt.date, last: dt.date, days: Sequence[UnitDay]) -> int:
        async def write(conn: Any) -> int:
            async with conn.transaction():
                await conn.execute(
                    "DELETE FROM unit_stats WHERE day >= $1 AND day <= $2", first.isoformat(), last.isoformat()
                )
                await conn.executemany(dollar_params(INSERT_DAY), [day_row(d) for d in days])
            return len(days)

        return await self._run(write)

    async def days(self, first: dt.date, last: dt.date) -> list[UnitDay]:
        async def read(conn: Any) -> list[UnitDay]:
            rows = await conn.fetch(dollar_params(DAYS), first.isoformat(), last.isoformat())
            return [unit_day(row) for row in rows]

        return await self._run(read)
