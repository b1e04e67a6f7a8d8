"""The review backends' shared SQL: one text per statement (``?`` placeholders, ``rooms.sql.dollar_params``
for PostgreSQL), the arguments a step writes, and rows read back as records.

What differs between ``rooms.sqlite_review`` and ``rooms.postgres_review``
(the transaction, the row lock, the clock) stays in each backend.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from rooms.review import DraftReview, Status, Step, Version, VersionKind
from rooms.review_store import HistoryEntry
from rooms.store import DraftKey

__all__ = [
    "HISTORY",
    "INSERT_STEP",
    "INSERT_VERSION",
    "VERSION",
    "history_entry",
    "review_of",
    "step_args",
    "version_args",
    "version_of",
]

VERSION = "SELECT id, session, name, kind, status, level, created_at, created_by, text"
HISTORY = (
    "SELECT at, actor, action, from_status, to_status, level, version, comment FROM review_steps "
    "WHERE session = ? AND name = ? ORDER BY id"
)
INSERT_VERSION = (
    "INSERT INTO draft_versions (session, name, kind, status, level, state, text, created_at, created_by) "
    "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)"
)
INSERT_STEP = (
    "INSERT INTO review_steps (session, name, action, from_status, to_status, level, version, actor, unit, "
    "comment, at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
)


def version_args(step: Step) -> tuple[Any, ...]:
    """``INSERT_VERSION``'s arguments: the version the step pins."""
    new = step.version
    assert new is not None, "only a step that pins stores a version"
    return (*step.key, new.kind.value, step.to.value, step.level, new.state, new.text, step.at, step.actor)


def step_args(step: Step, version_id: int | None) -> tuple[Any, ...]:
    """``INSERT_STEP``'s arguments: the history entry of the step."""
    return (
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


def review_of(row: Sequence[Any]) -> DraftReview:
    """A row of session, name, title, lead unit, status, pin, stale, changed_at."""
    pin = None if row[5] is None else int(row[5])
    return DraftReview(DraftKey(row[0], row[1]), row[2], row[3], Status(row[4]), pin, bool(row[6]), float(row[7]))


def version_of(row: Sequence[Any], state: bytes | None) -> Version:
    """A row of ``VERSION`` (its state read apart, or None)."""
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


def history_entry(row: Sequence[Any]) -> HistoryEntry:
    """A row of ``HISTORY``."""
    version = None if row[6] is None else int(row[6])
    return HistoryEntry(float(row[0]), row[1], row[2], Status(row[3]), Status(row[4]), int(row[5]), version, row[7])
