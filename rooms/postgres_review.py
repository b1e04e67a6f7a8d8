"""PostgreSQL review store, for a cluster (see ``rooms.review_store.ReviewStore``).

A step locks the draft's review row (``SELECT ... FOR UPDATE``, after
creating it if the draft never entered review), checks it is still as the
step expects, and stores the step, its events
(``rooms.postgres_events.append_in``) and its audit row in one transaction.
Two nodes deciding on one draft at once are serialised by that lock: the
second sees the first's result and raises ``StepConflict``.
"""

from __future__ import annotations

from typing import Any

from rooms import review_sql as sql
from rooms.postgres_directory import _insert_audit
from rooms.postgres_events import append_in
from rooms.postgres_store import PostgresPool
from rooms.review import DraftReview, Step, StepConflict, Version, audit_event, publications
from rooms.review_store import Applied, HistoryEntry, ReviewChanges
from rooms.sql import dollar_params
from rooms.store import DraftKey

__all__ = ["PostgresReviewStore"]

NOW = "extract(epoch FROM clock_timestamp())::float8"

_DRAFT = """
SELECT d.session, d.name, d.title, d.lead_unit, coalesce(r.status, 'editing') AS status, r.pin,
       coalesce(r.stale, false) AS stale, coalesce(r.changed_at, 0) AS changed_at
FROM drafts d LEFT JOIN draft_reviews r ON r.session = d.session AND r.name = d.name
"""

_INSERT_VERSION = dollar_params(sql.INSERT_VERSION) + " RETURNING id"

# The review row exists here (``apply`` creates it first): lock it.
_LOCKED = """
SELECT d.session, d.name, d.title, d.lead_unit, r.status, r.pin, r.stale, r.changed_at
FROM drafts d JOIN draft_reviews r ON r.session = d.session AND r.name = d.name
WHERE d.session = $1 AND d.name = $2 FOR UPDATE OF r
"""


class PostgresReviewStore(PostgresPool):
    """``rooms.review_store.ReviewStore`` on PostgreSQL."""

    what = "review store"

    async def draft(self, key: DraftKey) -> DraftReview | None:
        async def read(conn: Any) -> DraftReview | None:
            row = await conn.fetchrow(_DRAFT + " WHERE d.session = $1 AND d.name = $2", *key)
            return None if row is None else sql.review_of(row)

        return await self._run(read)

    async def apply(self, step: Step) -> Applied:
        async def txn(conn: Any) -> Applied:
            async with conn.transaction():
                await conn.execute(
                    "INSERT INTO draft_reviews (session, name, status, changed_at) "
                    "SELECT session, name, 'editing', 0 FROM drafts WHERE session = $1 AND name = $2 "
                    "ON CONFLICT (session, name) DO NOTHING",
                    *step.key,
                )
                row = await conn.fetchrow(_LOCKED, *step.key)
                current = None if row is None else sql.review_of(row)
                if current is None or step.conflicts_with(current):
                    raise StepConflict(current)
                version_id = None
                if step.version is not None:
                    version_id = int(await conn.fetchval(_INSERT_VERSION, *sql.version_args(step)))
                pin = step.pin_after(current.pin, version_id)
                now = float(
                    await conn.fetchval(
                        f"UPDATE draft_reviews SET status = $3, pin = $4, stale = $5, changed_at = {NOW} "
                        "WHERE session = $1 AND name = $2 RETURNING changed_at",
                        *step.key,
                        step.to.value,
                        pin,
                        step.stale,
                    )
                )
                await conn.execute(dollar_params(sql.INSERT_STEP), *sql.step_args(step, version_id))
                events = await append_in(conn, publications(step, current, pin), now)
                await _insert_audit(conn, [audit_event(step, version_id)])
            after = DraftReview(step.key, current.title, current.lead_unit, step.to, pin, step.stale, now)
            return Applied(after, version_id, events)

        return await self._run(txn)

    async def versions(self, key: DraftKey) -> list[Version]:
        async def read(conn: Any) -> list[Version]:
            rows = await conn.fetch(
                sql.VERSION + " FROM draft_versions WHERE session = $1 AND name = $2 ORDER BY id", *key
            )
            return [sql.version_of(row, None) for row in rows]

        return await self._run(read)

    async def version(self, key: DraftKey, version_id: int) -> Version | None:
        async def read(conn: Any) -> Version | None:
            row = await conn.fetchrow(
                sql.VERSION + ", state FROM draft_versions WHERE id = $1 AND session = $2 AND name = $3",
                version_id,
                *key,
            )
            return None if row is None else sql.version_of(row, bytes(row["state"]))

        return await self._run(read)

    async def history(self, key: DraftKey) -> list[HistoryEntry]:
        async def read(conn: Any) -> list[HistoryEntry]:
            return [sql.history_entry(r) for r in await conn.fetch(dollar_params(sql.HISTORY), *key)]

        return await self._run(read)

    async def changes(self, since: float | None) -> ReviewChanges:
        async def read(conn: Any) -> ReviewChanges:
            now = float(await conn.fetchval(f"SELECT {NOW}"))
            if since is None:
                return ReviewChanges([], now)
            rows = await conn.fetch(_DRAFT + " WHERE r.changed_at > $1 ORDER BY r.changed_at", since)
            return ReviewChanges([sql.review_of(row) for row in rows], now)

        return await self._run(read)
