"""SQLite review store: the embedded default. Single node only.

The store's SQLite file, on a connection of its own owned by one worker
thread. A step, its events (``rooms.sqlite_events.append_in``) and its audit
row commit in one ``BEGIN IMMEDIATE`` transaction.
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Sequence
from typing import Any

import orjson

from rooms.review import DraftReview, Status, Step, StepConflict, Version, VersionKind, audit_event, publications
from rooms.review_store import Applied, HistoryEntry, ReviewChanges
from rooms.sqlite_events import append_in
from rooms.sqlite_store import SqliteDatabase
from rooms.store import DraftKey

__all__ = ["SqliteReviewStore"]

_DRAFT = """
SELECT d.session, d.name, d.title, d.lead_unit, coalesce(r.status, 'editing'), r.pin, coalesce(r.stale, 0),
       coalesce(r.changed_at, 0)
FROM drafts d LEFT JOIN draft_reviews r ON r.session = d.session AND r.name = d.name
"""

_VERSION = "SELECT id, session, name, kind, status, level, created_at, created_by, text"


def _review(row: Sequence[Any]) -> DraftReview:
    return DraftReview(DraftKey(row[0], row[1]), row[2], row[3], Status(row[4]), row[5], bool(row[6]), float(row[7]))


def _version(row: Sequence[Any], state: bytes | None) -> Version:
    return Version(
        int(row[0]),
        DraftKey(row[1], row[2]),
        VersionKind(row[3]),
        Status(row[4]),
        int(row[5]),
        float(row[6]),
        row[7],
        row[8],
        state,
    )


def _read_draft(db: sqlite3.Connection, key: DraftKey) -> DraftReview | None:
    row = db.execute(_DRAFT + " WHERE d.session = ? AND d.name = ?", key).fetchone()
    return None if row is None else _review(row)


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
                new = step.version
                cur = db.execute(
                    "INSERT INTO draft_versions (session, name, kind, status, level, state, text, created_at, "
                    "created_by) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    (*step.key, new.kind.value, step.to.value, step.level, new.state, new.text, step.at, step.actor),
                )
                version_id = int(cur.lastrowid or 0)
            pin = step.pin_after(current.pin, version_id)
            db.execute(
                "INSERT INTO draft_reviews (session, name, status, pin, stale, changed_at) VALUES (?, ?, ?, ?, ?, ?) "
                "ON CONFLICT (session, name) DO UPDATE SET status = excluded.status, pin = excluded.pin, "
                "stale = excluded.stale, changed_at = excluded.changed_at",
                (*step.key, step.to.value, pin, int(step.stale), now),
            )
            db.execute(
                "INSERT INTO review_steps (session, name, action, from_status, to_status, level, version, actor, "
                "unit, comment, at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
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
                ),
            )
            events = append_in(db, publications(step, current, pin), now)
            audit = audit_event(step, version_id)
            db.execute(
                "INSERT INTO audit_log (at, node, actor, unit, client, action, target, detail) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    audit.at,
                    audit.node,
                    audit.actor,
                    audit.unit,
                    audit.client,
                    audit.action,
                    audit.target,
                    orjson.dumps(dict(audit.detail)).decode(),
                ),
            )
            after = DraftReview(step.key, current.title, current.lead_unit, step.to, pin, step.stale, now)
            return Applied(after, version_id, events)

        return await self._write(txn)

    async def versions(self, key: DraftKey) -> list[Version]:
        def read(db: sqlite3.Connection) -> list[Version]:
            rows = db.execute(
                _VERSION + " FROM draft_versions WHERE session = ? AND name = ? ORDER BY id", key
            ).fetchall()
            return [_version(row, None) for row in rows]

        return await self._run(read)

    async def version(self, key: DraftKey, version_id: int) -> Version | None:
        def read(db: sqlite3.Connection) -> Version | None:
            row = db.execute(
                _VERSION + ", state FROM draft_versions WHERE id = ? AND session = ? AND name = ?", (version_id, *key)
            ).fetchone()
            return None if row is None else _version(row, bytes(row[9]))

        return await self._run(read)

    async def history(self, key: DraftKey) -> list[HistoryEntry]:
        def read(db: sqlite3.Connection) -> list[HistoryEntry]:
            rows = db.execute(
                "SELECT at, actor, action, from_status, to_status, level, version, comment FROM review_steps "
                "WHERE session = ? AND name = ? ORDER BY id",
                key,
            ).fetchall()
            return [HistoryEntry(r[0], r[1], r[2], Status(r[3]), Status(r[4]), r[5], r[6], r[7]) for r in rows]

        return await self._run(read)

    async def changes(self, since: float | None) -> ReviewChanges:
        def read(db: sqlite3.Connection) -> ReviewChanges:
            now = time.time()
            if since is None:
                return ReviewChanges([], now)
            rows = db.execute(_DRAFT + " WHERE r.changed_at > ? ORDER BY r.changed_at", (since,)).fetchall()
            return ReviewChanges([_review(row) for row in rows], now)

        return await self._run(read)
