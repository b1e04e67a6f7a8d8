"""The WorkflowStore seam: planning sessions, drafts, topics, dispatch and duty, stored.

Backends: ``SqliteWorkflowStore`` (embedded default, the store's file) and
``PostgresWorkflowStore`` (cluster). Both run the same SQL through
``rooms.sql.Tx``; the operations live in ``rooms.workflow_ops``.

Guarantees (both backends, ``tests/workflow``):
- **One transaction per change.** A change, its audit row and its live
  events commit together or not at all. The committed events come back in
  ``Change.events``; the caller announces them (``Publisher.announce``) after
  the call returns. Events not announced (a crash) are still delivered by
  every node's store poll.
- **Checked in the transaction.** The state machine (``rooms.workflow``) and
  the roles policy are applied to the rows as read inside the transaction,
  with the rows locked (PostgreSQL) or the database held (SQLite), so two
  concurrent actions on one thing are applied one after the other and the
  second is judged on the first's result.
- **Errors.** ``rooms.workflow.NotFound``, ``Forbidden``, ``Invalid``,
  ``Conflict``, ``IllegalTransition``: nothing was changed. A backend failure
  raises ``rooms.store.StoreUnavailable``.
- **Membership and state reach the hubs.** Creating a session, inviting or
  removing a unit and every state change stamp ``rooms.changed_at``, so each
  hub's revocation poll closes sockets of removed units (4403) and reconnects
  writers of a closed or reopened session (4402) within about a second.
"""

from __future__ import annotations

import base64
import binascii
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Generic, NamedTuple, Protocol, TypeVar

import orjson

from rooms.directory import AuditEvent
from rooms.events import MAX_CHANNELS_PER_EVENT, Event, Publication
from rooms.sql import Tx
from rooms.workflow import (
    Actor,
    Draft,
    DutyView,
    Handover,
    Invalid,
    Page,
    PlanningSession,
    Receipt,
    Rotation,
    Task,
    Topic,
)

__all__ = [
    "Change",
    "Filters",
    "Recipient",
    "Transactor",
    "WorkflowStore",
    "decode_cursor",
    "encode_cursor",
    "page_of",
    "publications",
]

T = TypeVar("T")

MAX_PAGE = 200


@dataclass(frozen=True, slots=True)
class Change(Generic[T]):
    """What a change returns: its result, and the committed events to announce."""

    value: T
    events: list[Event] = field(default_factory=list)


class Recipient(NamedTuple):
    """A task's recipient: ``("unit", code)`` or ``("user", id)``."""

    kind: str
    id: str


@dataclass(frozen=True, slots=True)
class Filters:
    """What a list asks for: ``status`` (any of), ``unit``, creation time bounds, a page."""

    status: tuple[str, ...] = ()
    unit: str | None = None
    after: float | None = None
    before: float | None = None
    limit: int = 50
    cursor: str | None = None


def encode_cursor(values: Sequence[object]) -> str:
    return base64.urlsafe_b64encode(orjson.dumps(list(values))).decode("ascii").rstrip("=")


def decode_cursor(cursor: str, shape: tuple[type, ...]) -> list[Any]:
    """The values of a cursor of this list; ``Invalid("cursor")`` if it is not one."""
    try:
        values = orjson.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
    except (binascii.Error, ValueError):
        raise Invalid("cursor", "not a cursor of this list") from None
    if not isinstance(values, list) or len(values) != len(shape):
        raise Invalid("cursor", "not a cursor of this list")
    out: list[Any] = []
    for value, kind in zip(values, shape, strict=True):
        if kind is float and isinstance(value, int) and not isinstance(value, bool):
            value = float(value)
        if not isinstance(value, kind) or isinstance(value, bool):
            raise Invalid("cursor", "not a cursor of this list")
        out.append(value)
    return out


def page_of(items: list[T], limit: int, key: Callable[[T], Sequence[object]]) -> Page[T]:
    """A page from ``limit + 1`` fetched items: the extra one says there is a next page."""
    if len(items) <= limit:
        return Page(items, None)
    kept = items[:limit]
    return Page(kept, encode_cursor(key(kept[-1])))


def publications(channels: Sequence[str], type: str, data: Any) -> list[Publication]:
    """One event on many channels, split in publications of at most 16 channels each."""
    unique = list(dict.fromkeys(channels))
    return [
        Publication.of(unique[i : i + MAX_CHANNELS_PER_EVENT], type, data)
        for i in range(0, len(unique), MAX_CHANNELS_PER_EVENT)
    ]


class Transactor:
    """What the operations need of a backend: a clock, the node id, transactions."""

    def __init__(self, *, node: str = "", clock: Callable[[], float] = time.time) -> None:
        self.node = node
        self.clock = clock

    async def _transact(self, fn: Callable[[Tx], Awaitable[T]]) -> Change[T]:
        """Run ``fn`` in one write transaction; commit with its queued events and audit rows."""
        raise NotImplementedError

    async def _read(self, fn: Callable[[Tx], Awaitable[T]]) -> T:
        """Run ``fn`` in one read-only transaction (a consistent snapshot)."""
        raise NotImplementedError

    def _audit(self, tx: Tx, actor: Actor | None, entity: str, target: str, detail: Mapping[str, Any]) -> None:
        tx.audit(
            AuditEvent(
                entity,
                tx.now,
                None if actor is None else actor.id,
                None if actor is None else actor.unit,
                None if actor is None else actor.client,
                target,
                dict(detail),
                self.node,
            )
        )


class WorkflowStore(Protocol):
    """Planning sessions, drafts, topic reports, dispatch and duty (see the module's guarantees).

    Reads take the ``Actor`` and return only what it may see (``NotFound``
    otherwise). Writes return a ``Change`` whose ``events`` the caller
    announces. Ids of topics, tasks and receipts are integers here and
    strings in JSON.
    """

    clock: Callable[[], float]

    async def open(self) -> None: ...

    async def close(self) -> None: ...

    # -- sessions and drafts --------------------------------------------------

    async def sessions(self, actor: Actor, filters: Filters) -> Page[PlanningSession]: ...

    async def session(self, actor: Actor, session_id: str) -> PlanningSession: ...

    async def create_session(
        self,
        actor: Actor,
        *,
        title: str,
        member_units: Sequence[str],
        starts_at: float | None = None,
        ends_at: float | None = None,
        session_id: str | None = None,
    ) -> Change[PlanningSession]: ...

    async def update_session(self, actor: Actor, session_id: str, patch: Mapping[str, Any]) -> Change[PlanningSession]:
        """``patch``: any of ``title``, ``starts_at``, ``ends_at`` (None clears a time)."""
        ...

    async def invite(self, actor: Actor, session_id: str, units: Sequence[str]) -> Change[PlanningSession]: ...

    async def remove_member(self, actor: Actor, session_id: str, unit: str) -> Change[PlanningSession]: ...

    async def session_action(
        self, actor: Actor, session_id: str, action: str, *, reason: str = ""
    ) -> Change[PlanningSession]:
        """``open``, ``close``, ``reopen`` or ``archive`` (``rooms.workflow.SESSION``)."""
        ...

    async def drafts(self, actor: Actor, session_id: str, filters: Filters) -> Page[Draft]: ...

    async def draft(self, actor: Actor, session_id: str, name: str) -> Draft: ...

    async def create_draft(
        self, actor: Actor, session_id: str, *, title: str, lead_unit: str, name: str | None = None
    ) -> Change[Draft]: ...

    async def update_draft(self, actor: Actor, session_id: str, name: str, patch: Mapping[str, Any]) -> Change[Draft]:
        """``patch``: any of ``title``, ``lead_unit``."""
        ...

    # -- topics -----------------------------------------------------------------

    async def topics(self, actor: Actor, filters: Filters) -> Page[Topic]: ...

    async def topic(self, actor: Actor, topic_id: int) -> Topic:
        """The topic with its ``history``."""
        ...

    async def submit_topic(
        self,
        actor: Actor,
        *,
        title: str,
        angle: str,
        proposed_date: str,
        platforms: Sequence[str],
        links: Sequence[str],
    ) -> Change[Topic]: ...

    async def topic_action(
        self,
        actor: Actor,
        topic_id: int,
        action: str,
        *,
        reason: str = "",
        session: str | None = None,
        draft_title: str | None = None,
        into: int | None = None,
        edits: Mapping[str, Any] | None = None,
    ) -> Change[Topic]:
        """``approve`` (``session``, ``draft_title``: creates the draft), ``return``, ``merge``
        (``into``), ``reject``, ``resubmit`` (``edits``: topic fields), ``withdraw``."""
        ...

    # -- dispatch -----------------------------------------------------------------

    async def tasks(self, actor: Actor, box: str, filters: Filters) -> Page[Task]:
        """``box``: ``inbox`` (tasks with a receipt for the actor or their unit) or ``sent``."""
        ...

    async def task(self, actor: Actor, task_id: int) -> Task: ...

    async def create_task(
        self,
        actor: Actor,
        *,
        title: str,
        body: str,
        priority: str,
        deadline_at: float,
        recipients: Sequence[Recipient],
        session: str | None = None,
    ) -> Change[Task]: ...

    async def task_action(
        self,
        actor: Actor,
        task_id: int,
        action: str,
        *,
        reason: str = "",
        receipt: int | None = None,
        to: Recipient | None = None,
    ) -> Change[Task]:
        """``reassign`` (``receipt``, ``to``, ``reason``), ``cancel`` (``reason``), ``complete``."""
        ...

    async def receipt_action(
        self, actor: Actor, task_id: int, receipt_id: int, action: str, *, reason: str = ""
    ) -> Change[Task]:
        """``read``, ``acknowledge``, ``accept``, ``decline`` (``reason`` required)."""
        ...

    async def escalate_overdue(self, now: float, *, limit: int = 100) -> Change[list[Receipt]]:
        """Escalate, once each, receipts of open tasks past their deadline and not yet acknowledged."""
        ...

    # -- duty -------------------------------------------------------------------------

    async def on_duty_unit(self, at: float) -> str | None:
        """The unit on duty at ``at``; None when no rotation is set."""
        ...

    async def duty(self, at: float) -> DutyView: ...

    async def put_rotation(
        self, actor: Actor, *, units: Sequence[str], period: str, anchor_at: float
    ) -> Change[DutyView]:
        """Replace the rotation; a change of the unit on duty is handed over at once."""
        ...

    async def hand_over(self, now: float) -> Change[Handover | None]:
        """Record and announce a change of the unit on duty since the last handover, once."""
        ...

    async def seed_rotation(self, rotation: Rotation) -> bool:
        """Store ``rotation`` if there is none; True if it was stored (no events, no audit)."""
        ...

    async def handovers(self, limit: int = 50) -> list[Handover]:
        """The newest handovers, newest first."""
        ...
