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

import orjson

from rooms.postgres_events import append_in
from rooms.postgres_store import PostgresPool
from rooms.review import DraftReview, Status, Step, StepConflict, Version, VersionKind, audit_event, publications
from rooms.review_store import Applied, HistoryEntry, ReviewChanges
from rooms.store import DraftKey

__all__ = ["PostgresReviewStore"]

NOW = "extract(epoch FROM clock_timestamp())::float8"

_DRAFT = """
SELECT d.session, d.name, d.title, d.lead_unit, coalesce(r.status, 'editing') AS status, r.pin,
       coalesce(r.stale, false) AS stale, coalesce(r.changed_at, 0) AS changed_at
FROM drafts d LEFT JOIN draft_reviews r ON r.session = d.session AND r.name = d.name
"""

# The review row exists here (``apply`` creates it first): lock it.
_LOCKED = """
SELECT d.session, d.name, d.title, d.lead_unit, r.status, r.pin, r.stale, r.changed_at
FROM drafts d JOIN draft_reviews r ON r.session = d.session AND r.name = d.name
WHERE d.session = $1 AND d.name = $2 FOR UPDATE OF r
"""

_VERSION = "SELECT id, session, name, kind, status, level, created_at, created_by, text"


def _review(row: Any) -> DraftReview:
    key = DraftKey(row["session"], row["name"])
    pin = None if row["pin"] is None else int(row["pin"])
    return DraftReview(
        key, row["title"], row["lead_unit"], Status(row["status"]), pin, bool(row["stale"]), float(row["changed_at"])
    )


def _version(row: Any, state: bytes | None) -> Version:
    return Version(
        int(row["id"]),
        DraftKey(row["session"], row["name"]),
        VersionKind(row["kind"]),
        Status(row["status"]),
        int(row["level"]),
        float(row["created_at"]),
        row["created_by"],
        row["text"],
        state,
    )


class PostgresReviewStore(PostgresPool):
    """``rooms.review_store.ReviewStore`` on PostgreSQL."""

    what = "review store"

    async def draft(self, key: DraftKey) -> DraftReview | None:
        async def read(conn: Any) -> DraftReview | None:
            row = await conn.fetchrow(_DRAFT + " WHERE d.session = $1 AND d.name = $2", *key)
            return None if row is None else _review(row)

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
                current = None if row is None else _review(row)
                if current is None or step.conflicts_with(current):
                    raise StepConflict(current)
                version_id = None
                if step.version is not None:
                    new = step.version
                    version_id = int(
                        await conn.fetchval(
                            "INSERT INTO draft_versions (session, name, kind, status, level, state, text, created_at, "
                            "created_by) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) RETURNING id",
                            *step.key,
                            new.kind.value,
                            step.to.value,
                            step.level,
                            new.state,
                            new.text,
                            step.at,
                            step.actor,
                        )
                    )
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
                await conn.execute(
                    "INSERT INTO review_steps (session, name, action, from_status, to_status, level, version, actor, "
                    "unit, comment, at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)",
                    *step.key,
                    step.action.value,
                    step.expect.value,
                    step.to.value,
                    step.acted_level,
                    version_id,
                    step.actor,
                    step.unit,
                    step.comment,
                    step.at,
                )
                events = await append_in(conn, publications(step, current, pin), now)
                audit = audit_event(step, version_id)
                await conn.execute(
                    "INSERT INTO audit_log (at, node, actor, unit, client, action, target, detail) "
                    "VALUES (to_timestamp($1), $2, $3, $4, $5, $6, $7, $8::jsonb)",
                    audit.at,
                    audit.node,
                    audit.actor,
                    audit.unit,
                    audit.client,
                    audit.action,
                    audit.target,
                    orjson.dumps(dict(audit.detail)).decode(),
                )
            after = DraftReview(step.key, current.title, current.lead_unit, step.to, pin, step.stale, now)
            return Applied(after, version_id, events)

        return await self._run(txn)

    async def versions(self, key: DraftKey) -> list[Version]:
        async def read(conn: Any) -> list[Version]:
            rows = await conn.fetch(
                _VERSION + " FROM draft_versions WHERE session = $1 AND name = $2 ORDER BY id", *key
            )
            return [_version(row, None) for row in rows]

        return await self._run(read)

    async def version(self, key: DraftKey, version_id: int) -> Version | None:
        async def read(conn: Any) -> Version | None:
            row = await conn.fetchrow(
                _VERSION + ", state FROM draft_versions WHERE id = $1 AND session = $2 AND name = $3",
                version_id,
                *key,
            )
            return None if row is None else _version(row, bytes(row["state"]))

        return await self._run(read)

    async def history(self, key: DraftKey) -> list[HistoryEntry]:
        async def read(conn: Any) -> list[HistoryEntry]:
            rows = await conn.fetch(
                "SELECT at, actor, action, from_status, to_status, level, version, comment FROM review_steps "
                "WHERE session = $1 AND name = $2 ORDER BY id",
                *key,
            )
            return [
                HistoryEntry(
                    float(r["at"]),
                    r["actor"],
                    r["action"],
                    Status(r["from_status"]),
                    Status(r["to_status"]),
                    int(r["level"]),
                    None if r["version"] is None else int(r["version"]),
                    r["comment"],
                )
                for r in rows
            ]

        return await self._run(read)

    async def changes(self, since: float | None) -> ReviewChanges:
        async def read(conn: Any) -> ReviewChanges:
            now = float(await conn.fetchval(f"SELECT {NOW}"))
            if since is None:
                return ReviewChanges([], now)
            rows = await conn.fetch(_DRAFT + " WHERE r.changed_at > $1 ORDER BY r.changed_at", since)
            return ReviewChanges([_review(row) for row in rows], now)

        return await self._run(read)
