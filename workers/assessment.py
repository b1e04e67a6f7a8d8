"""The assessment worker: per-unit statistics by calendar day, into ``unit_stats``.

Each tick recomputes the last ``lookback`` days up to today (the city's
calendar, ``rooms.workflow.CITY_TZ``) from the workflow's and review's rows
and replaces them in one transaction: a task acknowledged late, or a topic
adopted days after it was submitted, changes the day it belongs to. The
first tick on an empty table computes every day since the first activity.
Definitions: ``rooms.assessment``.

A tick opens its own store connection and closes it (ticks are minutes
apart), so the job needs nothing from its host but the settings.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable
from typing import TYPE_CHECKING

from rooms.assessment import AssessmentStore, city_day, day_start, unit_days

if TYPE_CHECKING:
    from hub.config import Settings

__all__ = ["Assessment", "make_assessment_store"]

log = logging.getLogger("tongpin.assessment")


def make_assessment_store(settings: Settings) -> AssessmentStore:
    url = settings.database_url
    if url.startswith(("postgres://", "postgresql://")):
        from rooms.postgres_assessment import PostgresAssessmentStore

        return PostgresAssessmentStore(url, migrate=False, max_size=1)
    from rooms.sqlite_assessment import SqliteAssessmentStore

    return SqliteAssessmentStore(settings.sqlite_path, migrate=False)


class Assessment:
    name = "assessment"

    def __init__(
        self, open_store: Callable[[], AssessmentStore], *, interval: float = 300.0, lookback: int = 35
    ) -> None:
        self.open_store = open_store
        self.interval = interval
        self.lookback = lookback

    async def tick(self, now: float) -> int:
        """Recompute the days in the window; return how many unit-day rows were written."""
        store = self.open_store()
        await store.open()
        try:
            return await self.compute(store, now)
        finally:
            await store.close()

    async def compute(self, store: AssessmentStore, now: float) -> int:
        today = city_day(now)
        first = today - dt.timedelta(days=self.lookback)
        if not await store.has_days():
            started = await store.first_activity()
            if started is not None:
                first = min(first, city_day(started))
        activity = await store.activity(day_start(first), day_start(today + dt.timedelta(days=1)))
        written = await store.put_days(first, today, unit_days(activity, now))
        log.debug("assessment: %d unit-days from %s to %s", written, first, today)
        return written
