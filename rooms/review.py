"""Three-level review (三审) of a draft: states, actions, who may act, and what each step records.

States and the one table of transitions (``TRANSITIONS``)::

    editing --submit--> submitted (level 1) --pass--> level_2 --pass--> level_3 --pass--> approved
    approved --publish--> published
    submitted | level_2 | level_3 | approved --return--> editing
    submitted | level_2 | level_3 | approved --reject--> rejected
    submitted | level_2 | level_3 | approved --pin--> (same state, a new pin)

Every step but return and reject *pins* a version: the document's Yjs state
and its plain text, as it was when the step was taken. ``pass`` and
``publish`` need the current pin to be *fresh*: an edit after the pin
reopens the step (``reopen``, taken by the hub, never by a person), and the
step needs a new pin before anyone decides. ``published`` and ``rejected``
are final.

Who may act (``may``): the users of any unit taking part in the planning
session (its owner or a member unit), with the role the step needs: level 1
``reviewer_1``, level 2 ``reviewer_2``, level 3 and approved ``reviewer_3``
or ``chief_editor``; ``publish`` ``chief_editor``. Chief editors act on
any session's drafts, as they see every session. ``submit`` and ``pin``
also by the draft's authors: users who may edit (``hub.auth.may_edit``), of
the lead unit or the session's owner unit (not ``pin`` once approved).

A step is stored with its live events and its audit row in one transaction
(``rooms.review_store``); ``publications`` and ``audit_event`` build those
from the step, the same for every backend.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import Any

from rooms.directory import AuditEvent, Role, Room
from rooms.events import Publication
from rooms.store import DraftKey
from schema import events as catalogue

__all__ = [
    "FINAL",
    "IN_REVIEW",
    "TRANSITIONS",
    "Action",
    "DraftReview",
    "NewVersion",
    "Status",
    "Step",
    "StepConflict",
    "Version",
    "VersionKind",
    "allowed",
    "audit_event",
    "event_type",
    "level_of",
    "may",
    "may_see",
    "publications",
]


class Status(enum.StrEnum):
    EDITING = "editing"
    SUBMITTED = "submitted"  # level 1 pending
    LEVEL_2 = "level_2"
    LEVEL_3 = "level_3"
    APPROVED = "approved"
    PUBLISHED = "published"
    REJECTED = "rejected"


class Action(enum.StrEnum):
    SUBMIT = "submit"
    PIN = "pin"
    PASS = "pass"
    RETURN = "return"
    REJECT = "reject"
    PUBLISH = "publish"
    REOPEN = "reopen"  # the hub's, when an edit follows a pin


class VersionKind(enum.StrEnum):
    PIN = "pin"
    PUBLISHED = "published"


IN_REVIEW = (Status.SUBMITTED, Status.LEVEL_2, Status.LEVEL_3, Status.APPROVED)
FINAL = frozenset({Status.PUBLISHED, Status.REJECTED})
_LEVELS = {Status.SUBMITTED: 1, Status.LEVEL_2: 2, Status.LEVEL_3: 3, Status.APPROVED: 3}
_NEXT_LEVEL = {Status.SUBMITTED: Status.LEVEL_2, Status.LEVEL_2: Status.LEVEL_3, Status.LEVEL_3: Status.APPROVED}

TRANSITIONS: dict[tuple[Status, Action], Status] = {
    (Status.EDITING, Action.SUBMIT): Status.SUBMITTED,
    (Status.APPROVED, Action.PUBLISH): Status.PUBLISHED,
    **{(s, Action.PASS): to for s, to in _NEXT_LEVEL.items()},
    **{(s, Action.RETURN): Status.EDITING for s in IN_REVIEW},
    **{(s, Action.REJECT): Status.REJECTED for s in IN_REVIEW},
    **{(s, Action.PIN): s for s in IN_REVIEW},
    **{(s, Action.REOPEN): s for s in IN_REVIEW},
}

NEEDS_FRESH_PIN = frozenset({Action.PASS, Action.PUBLISH})
PINS = frozenset({Action.SUBMIT, Action.PIN, Action.PASS, Action.PUBLISH})  # steps that store a version


def level_of(status: Status) -> int:
    """The review level a state is at (1-3), 0 outside review."""
    return _LEVELS.get(status, 0)


def allowed(status: Status, *, stale: bool = False) -> list[str]:
    """Actions people may take in ``status`` (``pass``/``publish`` not on a stale pin)."""
    return [
        action.value
        for action in Action
        if (status, action) in TRANSITIONS and action is not Action.REOPEN and not (stale and action in NEEDS_FRESH_PIN)
    ]


_DECIDERS = {
    1: frozenset({Role.REVIEWER_1}),
    2: frozenset({Role.REVIEWER_2}),
    3: frozenset({Role.REVIEWER_3, Role.CHIEF_EDITOR}),
}
_SEE_ALL = frozenset({Role.COMMANDER, Role.CHIEF_EDITOR})


def may_see(*, roles: frozenset[str], unit: str, room: Room) -> bool:
    """Whether a user sees a session's drafts, their review and versions (as the workflow rules say)."""
    return room.has_unit(unit) or not roles.isdisjoint(_SEE_ALL)


def may(
    action: Action, status: Status, *, roles: frozenset[str], unit: str, may_edit: bool, room: Room, lead_unit: str
) -> bool:
    """Whether a user (``roles``, ``unit``, ``may_edit`` drafts) may take ``action`` on a draft in ``status``.

    Chief editors act on any session's drafts (they see them all); everyone
    else only on drafts of sessions their unit takes part in.
    """
    chief = Role.CHIEF_EDITOR in roles
    if not (room.has_unit(unit) or chief):
        return False
    author = may_edit and unit in (lead_unit, room.owner_unit)
    decider = not roles.isdisjoint(_DECIDERS.get(level_of(status), frozenset()))
    if action is Action.SUBMIT:
        return author
    if action is Action.PIN:
        return decider or (author and status is not Status.APPROVED)
    if action is Action.PUBLISH:
        return chief
    return action in (Action.PASS, Action.RETURN, Action.REJECT) and decider


# -- records ---------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class DraftReview:
    """A draft (from the drafts table) and where its review stands."""

    key: DraftKey
    title: str
    lead_unit: str
    status: Status
    pin: int | None  # the current pin's version id
    stale: bool  # an edit followed the pin
    changed_at: float  # of the review state (0: never reviewed)


@dataclass(frozen=True, slots=True)
class NewVersion:
    kind: VersionKind
    state: bytes  # the document as one Yjs update
    text: str


@dataclass(frozen=True, slots=True)
class Version:
    id: int
    key: DraftKey
    kind: VersionKind
    status: Status  # the review state the version was pinned for
    level: int
    created_at: float
    created_by: str | None
    text: str
    state: bytes | None  # None when listed without it


@dataclass(frozen=True, slots=True)
class Step:
    """One review action, decided against the state it saw (``expect``, ``expect_pin``, not stale).

    A store applies it only if the draft is still in that state, else raises
    ``StepConflict``. The draft's pin becomes ``version`` when one is given,
    none when the step leaves review for editing or rejected, else stays.
    """

    key: DraftKey
    action: Action
    expect: Status
    expect_pin: int | None
    to: Status
    version: NewVersion | None
    at: float
    actor: str | None
    unit: str | None = None
    client: str | None = None
    comment: str = ""
    node: str = ""

    @property
    def level(self) -> int:
        """The level of the state the step leads to (its version's level)."""
        return level_of(self.to)

    @property
    def acted_level(self) -> int:
        """The level the step was taken at."""
        return level_of(self.expect)

    @property
    def stale(self) -> bool:
        """Whether the pin is stale after this step."""
        return self.action is Action.REOPEN

    def pin_after(self, current: int | None, version_id: int | None) -> int | None:
        if version_id is not None:
            return version_id
        return None if self.to in (Status.EDITING, Status.REJECTED) else current

    def conflicts_with(self, current: DraftReview) -> bool:
        """Whether the draft moved on since this step was decided."""
        if current.status is not self.expect or current.pin != self.expect_pin:
            return True
        return current.stale and (self.action in NEEDS_FRESH_PIN or self.action is Action.REOPEN)


class StepConflict(Exception):
    """The draft moved on (another decision, a new pin, a reopen) since the step was decided."""

    def __init__(self, current: DraftReview | None) -> None:
        super().__init__("the review moved on; reload")
        self.current = current


# -- what a step publishes and audits --------------------------------------------

_EVENT_TYPES = {
    Action.SUBMIT: "review.submitted",
    Action.PIN: "review.pinned",
    Action.PASS: "review.passed",
    Action.RETURN: "review.returned",
    Action.REJECT: "review.rejected",
    Action.REOPEN: "review.reopened",
    Action.PUBLISH: "draft.published",
}


def event_type(step: Step) -> str:
    if step.action is Action.PASS and step.to is Status.APPROVED:
        return "review.approved"
    return _EVENT_TYPES[step.action]


def event_data(step: Step, draft: DraftReview, pin: int | None) -> dict[str, Any]:
    return {
        "session": step.key.room,
        "draft": step.key.draft,
        "title": draft.title,
        "lead_unit": draft.lead_unit,
        "action": step.action.value,
        "from": step.expect.value,
        "status": step.to.value,
        "level": level_of(step.to),
        "pin": None if pin is None else str(pin),
        "stale": step.stale,
        "actor": step.actor,
        "comment": step.comment,
        "at": step.at,
    }


def publications(step: Step, draft: DraftReview, pin: int | None) -> list[Publication]:
    """The live events of a step: on the session's room and the lead unit's channel."""
    channels = [f"room:{step.key.room}", f"unit:{draft.lead_unit}"]
    return [Publication.of(channels, catalogue.require(event_type(step)), event_data(step, draft, pin))]


def audit_event(step: Step, version_id: int | None) -> AuditEvent:
    action = "publish" if step.action is Action.PUBLISH else "review"
    detail: dict[str, Any] = {"action": step.action.value, "from": step.expect.value, "to": step.to.value}
    if version_id is not None:
        detail["version"] = str(version_id)
    if step.comment:
        detail["comment"] = step.comment[:500]
    return AuditEvent(action, step.at, step.actor, step.unit, step.client, str(step.key), detail, step.node)
