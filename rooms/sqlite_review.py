"""SQLite review store: the embedded default. Single node only.

The store's SQLite file, on a connection of its own owned by one worker
thread. A step, its events (``rooms.sqlite_events.append_in``) and its audit
row commit in one ``BEGIN IMMEDIATE`` transaction.
"""

from __future__ import annotations

import sqlite3
import time

from rooms import review_sql as sql
from rooms.review import DraftReview, Step, StepConflict, Version, audit_event, publications
from rooms.review_store import Applied, HistoryEntry, ReviewChanges
from rooms.sqlite_directory import _insert_audit
from rooms.sqlite_events import append_in
from rooms.sqlite_store import SqliteDatabase
from rooms.store import DraftKey

__all__ = ["SqliteReviewStore"]

_DRAFT = """
SELECT d.session, d.name, d.title, d.lead_unit, coalesce(r.status, 'editing'), r.pin, coalesce(r.stale, 0),
       coalesce(r.changed_at, 0)
FROM drafts d LEFT JOIN draft_reviews r ON r.session = d.session AND r.name = d.name
"""


def _read_draft(db: sqlite3.Connection, key: DraftKey) -> DraftReview | None:
    row = db.execute(_DRAFT + " WHERE d.session = ? AND d.name = ?", key).fetchone()
    return None if row is None else sql.review_of(row)


class SqliteReviewStore(SqliteDatabase):
    """``rooms.review_store.ReviewStore`` on the SQLite file."""

    what = "review store"
    thread_name = "sqlite-review"

    async def draft(self, key: DraftKey) -> DraftReview | None:
        return await self._run(lambda db: _read_draft(db, key))

    async def apply(self, step: Step) -> Applied:
        def txn(db: sqlite3.Connection) -> Applied:
            current = _read_draft(db, step.key)
            if current is None or step.conflicts_with(current):
                raise StepConflict(current)
            now = time.time()
            version_id = None
            if step.version is not None:
                version_id = int(db.execute(sql.INSERT_VERSION, sql.version_args(step)).lastrowid or 0)
            pin = step.pin_after(current.pin, version_id)
            db.execute(
                "INSERT INTO draft_reviews (session, name, status, pin, stale, changed_at) VALUES (?, ?, ?, ?, ?, ?) "
                "ON CONFLICT (session, name) DO UPDATE SET status = excluded.status, pin = excluded.pin, "
                "stale = excluded.stale, changed_at = excluded.changed_at",
                (*step.key, step.to.value, pin, int(step.stale), now),
            )
            db.execute(sql.INSERT_STEP, sql.step_args(step, version_id))
            events = append_in(db, publications(step, current, pin), now)
            _insert_audit(db, [audit_event(step, version_id)])
            after = DraftReview(step.key, current.title, current.lead_unit, step.to, pin, step.stale, now)
            return Applied(after, version_id, events)

        return await self._write(txn)

    async def versions(self, key: DraftKey) -> list[Version]:
        def read(db: sqlite3.Connection) -> list[Version]:
            rows = db.execute(sql.VERSION + " FROM draft_versions WHERE session = ? AND name = ? ORDER BY id", key)
            return [sql.version_of(row, None) for row in rows.fetchall()]

        return await self._run(read)

    async def version(self, key: DraftKey, version_id: int) -> Version | None:
        def read(db: sqlite3.Connection) -> Version | None:
            row = db.execute(
                sql.VERSION + ", state FROM draft_versions WHERE id = ? AND session = ? AND name = ?",
                (version_id, *key),
            ).fetchone()
            return None if row is None else sql.version_of(row, bytes(row[9]))

        return await self._run(read)

    async def history(self, key: DraftKey) -> list[HistoryEntry]:
        def read(db: sqlite3.Connection) -> list[HistoryEntry]:
            return [sql.history_entry(r) for r in db.execute(sql.HISTORY, key).fetchall()]

        return await self._run(read)

    async def changes(self, since: float | None) -> ReviewChanges:
        def read(db: sqlite3.Connection) -> ReviewChanges:
            now = time.time()
            if since is None:
                return ReviewChanges([], now)
            rows = db.execute(_DRAFT + " WHERE r.changed_at > ? ORDER BY r.changed_at", (since,)).fetchall()
            return ReviewChanges([sql.review_of(row) for row in rows], now)

        return await self._run(read)
