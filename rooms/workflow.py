"""The rules of the planning workflow: state machines, who may act, and errors.

Pure rules, no I/O: the workflow store (``rooms.workflow_store``) applies them
inside each change's transaction, the HTTP API (``hub.workflow_api``) turns
their errors into answers.

## State machines

One table per entity below (``SESSION``, ``TOPIC``, ``TASK``, ``RECEIPT``):
``(state, action) -> new state``; anything else is an ``IllegalTransition``
(HTTP 409 with the actions the state allows). ``docs/WORKFLOW.md`` shows
them as tables (``python -m rooms.workflow`` prints them; a test keeps the
two equal).

Accepting or declining answers a receipt, so it also counts as acknowledging
it (``acknowledged_at`` is set if it was not). Receipts change only while
their task is open. Reassigning is a task action that moves a receipt to
``reassigned`` and delivers a new one to the new recipient.

Drafts of a *scheduled* or *open* session are editable (by the roles that may
edit at all, ``WRITER_ROLES`` = ``hub.auth.EDIT_ROLES``); drafts of a *closed* or *archived*
session open read-only for everyone, and no drafts are created there.

## Roles policy (``rooms.directory.Role``)

"Planners" are editors, duty editors, chief editors and commanders. "Writers"
are the roles that may edit drafts (reporters, editors, duty editors, the
three reviewer levels, chief editors, commanders). "The desk" is commanders,
chief editors, editors and duty editors of the city outlets, and duty editors
of the unit on duty now.

| what | who |
|---|---|
| see a session, its drafts | users of its owner and member units; commanders, chief editors |
| list sessions | own unit's; commanders and chief editors: all, or one unit's |
| create a session | planners (the owner is their unit) |
| change, invite, remove, open, close, reopen, archive | planners of the owner unit; commanders |
| create a draft | writers of the session's units; commanders |
| change a draft (title, lead unit) | planners of the owner unit or of the lead unit; commanders |
| submit a topic | writers (the topic's unit is theirs) |
| see topics | own unit's; the desk: all |
| approve, return, merge, reject a topic | the desk |
| resubmit, withdraw a topic | writers of the topic's unit |
| create a task | commanders; planners of the owner unit of the task's session |
| see a task | its assigner; its recipients (the user, or the unit's users); commanders |
| list every task (``box=all``) | commanders |
| read a receipt | the recipient user, or any user of the recipient unit |
| acknowledge, accept, decline | the recipient user, or writers of the recipient unit |
| reassign, cancel, complete a task | its assigner; commanders |
| see the duty rotation | every signed-in user |
| change the rotation | commanders, chief editors |
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

from rooms.directory import Role

__all__ = [
    "CITY_TZ",
    "DESK_ROLES",
    "MACHINES",
    "PERIODS",
    "PLANNER_ROLES",
    "PRIORITIES",
    "RECEIPT",
    "SESSION",
    "SESSION_EDITABLE",
    "TASK",
    "TOPIC",
    "WRITER_ROLES",
    "Actor",
    "Conflict",
    "Draft",
    "DutySlot",
    "DutyView",
    "Forbidden",
    "Handover",
    "IllegalTransition",
    "Invalid",
    "Machine",
    "NotFound",
    "Page",
    "PlanningSession",
    "Receipt",
    "Rotation",
    "Task",
    "Topic",
    "TopicStep",
    "WorkflowError",
    "markdown_tables",
]

T = TypeVar("T")

CITY_TZ = dt.timezone(dt.timedelta(hours=8))  # calendar dates are the city's (Asia/Shanghai, no DST)
PRIORITIES = ("low", "normal", "high", "urgent")
PERIODS = {"daily": 86_400.0, "weekly": 7 * 86_400.0}


# -- errors ----------------------------------------------------------------------


class WorkflowError(Exception):
    """A change that may not happen; the subclass says why (and the HTTP status)."""


class NotFound(WorkflowError):
    """No such thing, or the actor may not see it (its existence is not revealed)."""


class Forbidden(WorkflowError):
    """The actor sees it but may not do this."""


class Invalid(WorkflowError):
    """The input breaks a rule; ``field`` names the input at fault."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field


class Conflict(WorkflowError):
    """It exists already (an id taken), or the data forbids it (a constraint)."""


class IllegalTransition(WorkflowError):
    """The action is not allowed in the entity's current state."""

    def __init__(self, entity: str, state: str, action: str, allowed: list[str], why: str = "") -> None:
        super().__init__(why or f"a {entity} that is {state} cannot {action}; allowed: {', '.join(allowed) or 'none'}")
        self.entity = entity
        self.state = state
        self.action = action
        self.allowed = allowed


# -- state machines ----------------------------------------------------------------


@dataclass(frozen=True)
class Machine:
    """One entity's states and the transitions ``(state, action) -> new state``."""

    entity: str
    states: tuple[str, ...]
    transitions: Mapping[tuple[str, str], str]

    def __post_init__(self) -> None:
        for (state, _), target in self.transitions.items():
            assert state in self.states and target in self.states, f"{self.entity}: unknown state"

    @property
    def actions(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(action for _, action in self.transitions))

    def allowed(self, state: str) -> list[str]:
        return [action for (s, action) in self.transitions if s == state]

    def next(self, state: str, action: str) -> str:
        """The state after ``action``; ``IllegalTransition`` if it is not allowed now."""
        target = self.transitions.get((state, action))
        if target is None:
            raise IllegalTransition(self.entity, state, action, self.allowed(state))
        return target


SESSION = Machine(
    "session",
    ("scheduled", "open", "closed", "archived"),
    {
        ("scheduled", "open"): "open",
        ("open", "close"): "closed",
        ("closed", "reopen"): "open",
        ("closed", "archive"): "archived",
    },
)
SESSION_EDITABLE = frozenset({"scheduled", "open"})  # drafts editable, new drafts allowed

TOPIC = Machine(
    "topic",
    ("submitted", "approved", "returned", "merged", "rejected", "withdrawn"),
    {
        ("submitted", "approve"): "approved",
        ("submitted", "return"): "returned",
        ("submitted", "merge"): "merged",
        ("submitted", "reject"): "rejected",
        ("returned", "resubmit"): "submitted",
        ("returned", "withdraw"): "withdrawn",
    },
)

TASK = Machine(
    "task",
    ("open", "completed", "cancelled"),
    {
        ("open", "reassign"): "open",
        ("open", "cancel"): "cancelled",
        ("open", "complete"): "completed",
    },
)

_ANSWERABLE = ("delivered", "read", "acknowledged")
RECEIPT = Machine(
    "receipt",
    ("delivered", "read", "acknowledged", "accepted", "declined", "reassigned"),
    {
        ("delivered", "read"): "read",
        **{(s, "acknowledge"): "acknowledged" for s in ("delivered", "read")},
        **{(s, "accept"): "accepted" for s in _ANSWERABLE},
        **{(s, "decline"): "declined" for s in _ANSWERABLE},
        **{(s, "reassign"): "reassigned" for s in (*_ANSWERABLE, "accepted", "declined")},
    },
)

MACHINES = {m.entity: m for m in (SESSION, TOPIC, TASK, RECEIPT)}


def markdown_tables() -> str:
    """The state machines as Markdown, for ``docs/WORKFLOW.md``."""
    out = []
    for machine in MACHINES.values():
        out += [f"#### {machine.entity}", "", "| state | action → new state |", "|---|---|"]
        for state in machine.states:
            moves = "; ".join(f"{action} → {machine.next(state, action)}" for action in machine.allowed(state))
            out.append(f"| {state} | {moves or '(final)'} |")
        out.append("")
    return "\n".join(out)


# -- who may act -------------------------------------------------------------------

PLANNER_ROLES = frozenset({Role.EDITOR, Role.DUTY_EDITOR, Role.CHIEF_EDITOR, Role.COMMANDER})
WRITER_ROLES = frozenset(
    {
        Role.REPORTER,
        Role.EDITOR,
        Role.DUTY_EDITOR,
        Role.REVIEWER_1,
        Role.REVIEWER_2,
        Role.REVIEWER_3,
        Role.CHIEF_EDITOR,
        Role.COMMANDER,
    }
)
SEE_ALL_SESSIONS = frozenset({Role.COMMANDER, Role.CHIEF_EDITOR})
DESK_ROLES = frozenset({Role.COMMANDER, Role.CHIEF_EDITOR})  # anywhere
CITY_DESK_ROLES = frozenset({Role.EDITOR, Role.DUTY_EDITOR})  # in a city outlet
ROTATION_ROLES = frozenset({Role.COMMANDER, Role.CHIEF_EDITOR})


@dataclass(frozen=True, slots=True)
class Actor:
    """Who asks: a user with their unit (and its kind) and roles, and from where."""

    id: str
    unit: str
    unit_kind: str
    roles: frozenset[str]
    client: str | None = None

    def has(self, roles: frozenset[Role]) -> bool:
        return not roles.isdisjoint(self.roles)

    @property
    def commander(self) -> bool:
        return Role.COMMANDER in self.roles

    @property
    def writer(self) -> bool:
        return self.has(WRITER_ROLES)

    @property
    def planner(self) -> bool:
        return self.has(PLANNER_ROLES)

    def sees_all_sessions(self) -> bool:
        return self.has(SEE_ALL_SESSIONS)

    def may_see_session(self, session: PlanningSession) -> bool:
        return self.sees_all_sessions() or session.has_unit(self.unit)

    def may_manage_session(self, session: PlanningSession) -> bool:
        return self.commander or (self.planner and self.unit == session.owner_unit)

    def may_create_draft(self, session: PlanningSession) -> bool:
        return self.commander or (self.writer and session.has_unit(self.unit))

    def may_change_draft(self, session: PlanningSession, draft: Draft) -> bool:
        return self.commander or (self.planner and self.unit in (session.owner_unit, draft.lead_unit))

    def is_desk(self, on_duty: str | None) -> bool:
        if self.has(DESK_ROLES):
            return True
        if self.unit_kind == "city_outlet" and self.has(CITY_DESK_ROLES):
            return True
        return Role.DUTY_EDITOR in self.roles and on_duty is not None and self.unit == on_duty

    def may_see_topic(self, topic: Topic, on_duty: str | None) -> bool:
        return topic.unit == self.unit or self.is_desk(on_duty)

    def may_dispatch(self, session: PlanningSession | None) -> bool:
        return self.commander or (session is not None and self.planner and self.unit == session.owner_unit)

    def is_recipient(self, receipt: Receipt) -> bool:
        return receipt.user == self.id or (receipt.unit is not None and receipt.unit == self.unit)

    def may_see_task(self, task: Task) -> bool:
        return self.commander or task.assigner == self.id or any(self.is_recipient(r) for r in task.receipts)

    def may_answer(self, receipt: Receipt, action: str) -> bool:
        if receipt.user is not None:
            return receipt.user == self.id
        return receipt.unit == self.unit and (action == "read" or self.writer)

    def may_direct(self, task: Task) -> bool:
        return self.commander or task.assigner == self.id

    def may_set_rotation(self) -> bool:
        return self.has(ROTATION_ROLES)


# -- records -------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Page(Generic[T]):
    """One page of a list; ``next`` is the cursor of the following page (None: the last)."""

    items: list[T]
    next: str | None


@dataclass(frozen=True, slots=True)
class PlanningSession:
    """A planning session: a directory room with a state and a schedule."""

    id: str
    title: str
    owner_unit: str
    member_units: frozenset[str]
    status: str
    starts_at: float | None
    ends_at: float | None
    created_by: str | None
    created_at: float
    drafts_count: int = 0

    def has_unit(self, unit: str) -> bool:
        return unit == self.owner_unit or unit in self.member_units

    @property
    def units(self) -> list[str]:
        """The owner unit, then the member units in order."""
        return [self.owner_unit, *sorted(self.member_units - {self.owner_unit})]

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "title": self.title,
            "owner_unit": self.owner_unit,
            "member_units": sorted(self.member_units),
            "status": self.status,
            "starts_at": self.starts_at,
            "ends_at": self.ends_at,
            "created_by": self.created_by,
            "created_at": self.created_at,
            "drafts_count": self.drafts_count,
        }


@dataclass(frozen=True, slots=True)
class Draft:
    """A draft of a planning session; its document is ``/yjs/{session}/{name}``.

    ``review`` is where its review stands (``rooms.review``): ``status``
    and ``level`` (1-3 in review, else 0); a new draft is ``editing``.
    """

    session: str
    name: str
    title: str
    lead_unit: str
    created_by: str
    created_at: float
    review: Mapping[str, Any] = field(default_factory=lambda: {"status": "editing", "level": 0})

    @property
    def path(self) -> str:
        return f"{self.session}/{self.name}"

    def to_json(self) -> dict[str, Any]:
        return {
            "session": self.session,
            "name": self.name,
            "path": self.path,
            "title": self.title,
            "lead_unit": self.lead_unit,
            "review": dict(self.review),
            "created_by": self.created_by,
            "created_at": self.created_at,
        }


@dataclass(frozen=True, slots=True)
class TopicStep:
    """One entry of a topic's history."""

    at: float
    actor: str
    action: str
    reason: str

    def to_json(self) -> dict[str, Any]:
        return {"at": self.at, "actor": self.actor, "action": self.action, "reason": self.reason}


@dataclass(frozen=True, slots=True)
class Topic:
    """A topic report (报题) of a unit."""

    id: int
    unit: str
    title: str
    angle: str
    proposed_date: str
    platforms: list[str]
    links: list[str]
    status: str
    session: str | None
    draft: str | None
    merged_into: int | None
    created_by: str
    created_at: float
    updated_at: float
    history: list[TopicStep] | None = None  # read with the topic alone

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "id": str(self.id),
            "unit": self.unit,
            "title": self.title,
            "angle": self.angle,
            "proposed_date": self.proposed_date,
            "platforms": list(self.platforms),
            "links": list(self.links),
            "status": self.status,
            "session": self.session,
            "draft": self.draft,
            "merged_into": None if self.merged_into is None else str(self.merged_into),
            "created_by": self.created_by,
            "created_at": self.created_at,
            "updated_at": self.updated_at,
        }
        if self.history is not None:
            out["history"] = [step.to_json() for step in self.history]
        return out


@dataclass(frozen=True, slots=True)
class Receipt:
    """One recipient's receipt of a task: exactly one of ``unit`` and ``user``."""

    id: int
    task: int
    unit: str | None
    user: str | None
    status: str
    reason: str
    delivered_at: float
    read_at: float | None
    acknowledged_at: float | None
    decided_at: float | None
    escalated_at: float | None
    escalated_to: str | None

    @property
    def channel(self) -> str:
        return f"unit:{self.unit}" if self.unit is not None else f"user:{self.user}"

    @property
    def recipient(self) -> dict[str, str]:
        return {"unit": self.unit} if self.unit is not None else {"user": self.user or ""}

    def to_json(self) -> dict[str, Any]:
        return {
            "id": str(self.id),
            "task": str(self.task),
            "recipient": self.recipient,
            "status": self.status,
            "reason": self.reason,
            "delivered_at": self.delivered_at,
            "read_at": self.read_at,
            "acknowledged_at": self.acknowledged_at,
            "decided_at": self.decided_at,
            "escalated_at": self.escalated_at,
            "escalated_to": self.escalated_to,
        }


@dataclass(frozen=True, slots=True)
class Task:
    """A dispatched task (派单) with its receipts, oldest first."""

    id: int
    title: str
    body: str
    priority: str
    deadline_at: float
    status: str
    session: str | None
    assigner: str
    assigner_unit: str
    reason: str
    created_at: float
    updated_at: float
    receipts: list[Receipt]

    def receipt(self, receipt_id: int) -> Receipt | None:
        return next((r for r in self.receipts if r.id == receipt_id), None)

    @property
    def active(self) -> list[Receipt]:
        """Receipts not handed to someone else."""
        return [r for r in self.receipts if r.status != "reassigned"]

    def to_json(self) -> dict[str, Any]:
        return {
            "id": str(self.id),
            "title": self.title,
            "body": self.body,
            "priority": self.priority,
            "deadline_at": self.deadline_at,
            "status": self.status,
            "session": self.session,
            "assigner": self.assigner,
            "assigner_unit": self.assigner_unit,
            "reason": self.reason,
            "created_at": self.created_at,
            "updated_at": self.updated_at,
            "receipts": [r.to_json() for r in self.receipts],
        }


@dataclass(frozen=True, slots=True)
class Rotation:
    """Who is on duty when: ``units[floor((t - anchor_at) / period) mod len(units)]``."""

    units: list[str]
    period: str
    anchor_at: float
    updated_by: str = ""
    updated_at: float = 0.0

    @property
    def seconds(self) -> float:
        return PERIODS[self.period]

    def slot(self, at: float) -> DutySlot:
        """The duty slot that contains ``at``."""
        return self._slot(int((at - self.anchor_at) // self.seconds))

    def slots_starting(self, after: float, before: float, *, most: int) -> list[DutySlot]:
        """The slots that begin after ``after`` and before ``before``, oldest first: the latest ``most`` of them."""
        first = int((after - self.anchor_at) // self.seconds) + 1
        last = math.ceil((before - self.anchor_at) / self.seconds) - 1
        return [self._slot(index) for index in range(max(first, last - most + 1), last + 1)]

    def _slot(self, index: int) -> DutySlot:
        since = self.anchor_at + index * self.seconds
        return DutySlot(self.units[index % len(self.units)], since, since + self.seconds)

    def to_json(self) -> dict[str, Any]:
        return {
            "units": list(self.units),
            "period": self.period,
            "anchor_at": self.anchor_at,
            "updated_by": self.updated_by,
            "updated_at": self.updated_at,
        }


@dataclass(frozen=True, slots=True)
class DutySlot:
    unit: str
    since_at: float
    until_at: float

    def to_json(self) -> dict[str, Any]:
        return {"unit": self.unit, "since_at": self.since_at, "until_at": self.until_at}


@dataclass(frozen=True, slots=True)
class DutyView:
    """``GET /api/duty``: the slot now, the next one, and the rotation (all None without one)."""

    current: DutySlot | None
    next: DutySlot | None
    rotation: Rotation | None

    def to_json(self) -> dict[str, Any]:
        return {
            "current": None if self.current is None else self.current.to_json(),
            "next": None if self.next is None else self.next.to_json(),
            "rotation": None if self.rotation is None else self.rotation.to_json(),
        }


@dataclass(frozen=True, slots=True)
class Handover:
    """The unit on duty changed from ``from_unit`` (None: the first) to ``to_unit``."""

    id: int
    since_at: float
    from_unit: str | None
    to_unit: str
    at: float

    def to_json(self) -> dict[str, Any]:
        return {
            "id": str(self.id),
            "since_at": self.since_at,
            "from_unit": self.from_unit,
            "to_unit": self.to_unit,
            "at": self.at,
        }


if __name__ == "__main__":
    print(markdown_tables(), end="")
