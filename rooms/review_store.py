"""The ReviewStore seam: where drafts' review state, versions and review history live.

Backends: ``SqliteReviewStore`` (``rooms/sqlite_review.py``, the embedded
default, on the store's SQLite file) and ``PostgresReviewStore``
(``rooms/postgres_review.py``). Both pass ``tests/review/test_review_store.py``.
Their tables come from migration 0005 and name drafts by (session, name) of
the drafts table; a draft without a review row is being edited.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple, Protocol

from rooms.events import Event
from rooms.review import DraftReview, Status, Step, Version
from rooms.store import DraftKey

__all__ = ["Applied", "HistoryEntry", "ReviewChanges", "ReviewStore"]


class Applied(NamedTuple):
    """What a step stored: the review after it, its new version, its live events (to announce)."""

    review: DraftReview
    version: int | None
    events: list[Event]


class ReviewChanges(NamedTuple):
    """Review states changed after some time, and the backend's time now."""

    reviews: list[DraftReview]
    now: float


@dataclass(frozen=True, slots=True)
class HistoryEntry:
    at: float
    actor: str | None
    action: str
    from_status: Status
    to_status: Status
    level: int  # the level the action was taken at (0: outside review)
    version: int | None
    comment: str


class ReviewStore(Protocol):
    """Review state per draft, its versions and history.

    Guarantees:
    - ``apply`` is atomic and conditional: it stores the step (the new state,
      its version if any, a history entry), its live events
      (``rooms.review.publications``) and its audit row in one transaction,
      only if the draft is still as the step expects
      (``Step.conflicts_with``); otherwise it raises ``StepConflict`` with
      the current review (None: no such draft) and changes nothing. The
      caller announces the returned events after it returns.
    - Version ids increase; a version, once stored, never changes.
    - ``changes(since)`` returns every review whose state changed after
      ``since`` (a ``ReviewChanges.now`` of an earlier call, minus a few
      seconds of overlap, as commits may land late); ``since`` None returns
      only ``now``.
    - When the backend is down every call raises ``rooms.store.StoreUnavailable``.
    """

    async def open(self) -> None: ...

    async def close(self) -> None: ...

    async def draft(self, key: DraftKey) -> DraftReview | None:
        """The draft and its review; None if the drafts table has no such draft."""
        ...

    async def apply(self, step: Step) -> Applied: ...

    async def versions(self, key: DraftKey) -> list[Version]:
        """The draft's versions, oldest first, without their states."""
        ...

    async def version(self, key: DraftKey, version_id: int) -> Version | None:
        """One version of the draft, with its state."""
        ...

    async def history(self, key: DraftKey) -> list[HistoryEntry]: ...

    async def changes(self, since: float | None) -> ReviewChanges: ...
