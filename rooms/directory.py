"""The Directory seam: units, users, planning sessions (rooms) and the audit trail.

A capability separate from the document ``Store``: a hub needs both, but a
worker that compacts drafts never needs people, and a tool that issues tokens
never needs documents. Backends: ``SqliteDirectory`` (embedded default; it
shares the store's SQLite file) and ``PostgresDirectory`` (cluster). Both
pass ``tests/identity/test_directory_contract.py``. Their tables come from the
same numbered migrations as the store's (``schema/migrations``).

Names:
- unit code: ``UNIT_PATTERN`` (``dgdaily``, ``humen``);
- user id: ``USER_PATTERN`` (``humen-editor``);
- room id: a room name as ``rooms.names`` allows (it is the first part of a
  draft's path).
"""

from __future__ import annotations

import enum
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, NamedTuple, Protocol

from rooms.names import valid_name

__all__ = [
    "AUDIT_ACTIONS",
    "UNIT_KINDS",
    "UNIT_PATTERN",
    "USER_PATTERN",
    "AuditEvent",
    "AuditRecord",
    "Changes",
    "Directory",
    "InvalidEntry",
    "Role",
    "Room",
    "Unit",
    "User",
    "valid_unit_code",
    "valid_user_id",
]

UNIT_PATTERN = re.compile(r"[a-z][a-z0-9_-]{0,31}")
USER_PATTERN = re.compile(r"[a-z0-9][a-z0-9_.-]{0,63}")
UNIT_KINDS = ("city_outlet", "park", "subdistrict", "town")

# What the audit trail records (``AuditEvent.action``):
AUDIT_ACTIONS = (
    "join",  # a socket opened a draft
    "leave",  # it closed (detail: close code, updates applied, writes refused)
    "refuse",  # a connect, a write or a message was refused (detail: reason)
    "revoke",  # an open socket was closed: token expired, user disabled, rights changed
    "role_change",  # detail: before and after
    "disable",
    "enable",
    "signin",  # development sign-in issued a token
    "token",  # ``tongpin token`` issued a token
    "monitor",  # a monitor source or rule was created, changed or deleted (detail: change)
    "alert",  # an alert changed state or was escalated (detail: action, from, to, reason)
    # The planning workflow (``rooms.workflow_store``); detail: action, states before and after, reason.
    "session",  # a planning session created, changed, invited, removed, opened, closed, reopened, archived
    "draft",  # a draft created or changed
    "topic",  # a topic report submitted or decided
    "task",  # a task dispatched, reassigned, cancelled, completed
    "receipt",  # a receipt read, acknowledged, accepted, declined or escalated
    "duty",  # the duty rotation changed, or the duty handed over
    # Review (``rooms.review``); detail: action, from, to, version, comment.
    "review",  # a draft submitted, pinned, passed, returned, rejected, or reopened by an edit
    "publish",  # a draft published (read-only from then on)
)


class Role(enum.StrEnum):
    """What a user does. What each role may do is ``hub.auth``'s policy."""

    REPORTER = "reporter"
    EDITOR = "editor"
    DUTY_EDITOR = "duty_editor"  # 值班编辑
    REVIEWER_1 = "reviewer_1"  # 一审
    REVIEWER_2 = "reviewer_2"  # 二审
    REVIEWER_3 = "reviewer_3"  # 三审
    CHIEF_EDITOR = "chief_editor"
    COMMANDER = "commander"  # the city command centre
    MONITOR = "monitor"  # opinion monitoring
    VIEWER = "viewer"
    ADMIN = "admin"  # operates the platform: manages users; not a newsroom role


class InvalidEntry(ValueError):
    """A write breaks a rule of the data: an unknown unit, a malformed id."""


def valid_unit_code(code: str) -> bool:
    return UNIT_PATTERN.fullmatch(code) is not None


def valid_user_id(user_id: str) -> bool:
    return USER_PATTERN.fullmatch(user_id) is not None


class Unit(NamedTuple):
    """A member of the city's media cluster: an outlet, park, sub-district or town."""

    code: str
    name_zh: str
    name_en: str
    kind: str
    note: str = ""


@dataclass(frozen=True, slots=True)
class User:
    """A person: one unit, some roles. ``disabled`` users may not connect."""

    id: str
    name: str
    unit: str
    roles: frozenset[str]
    disabled: bool = False


@dataclass(frozen=True, slots=True)
class Room:
    """A planning session: one owner unit and any number of member units.

    ``status`` is the session's state (``rooms.workflow.SESSION``): drafts of
    a closed or archived session open read-only.
    """

    id: str
    title: str
    owner_unit: str
    member_units: frozenset[str] = field(default_factory=frozenset)
    status: str = "open"

    def has_unit(self, unit: str) -> bool:
        return unit == self.owner_unit or unit in self.member_units


@dataclass(frozen=True, slots=True)
class AuditEvent:
    """What happened, who did it, when, and from where.

    ``at`` is a Unix time taken when it happened, not when it was stored.
    ``actor`` is None when nobody was authenticated. ``client`` is the remote
    address. ``detail`` is a small JSON-able mapping.
    """

    action: str
    at: float
    actor: str | None = None
    unit: str | None = None
    client: str | None = None
    target: str = ""
    detail: Mapping[str, Any] = field(default_factory=dict)
    node: str = ""


@dataclass(frozen=True, slots=True)
class AuditRecord:
    """A stored ``AuditEvent`` with its trail position (increasing ids)."""

    id: int
    event: AuditEvent


class Changes(NamedTuple):
    """Users and rooms changed after some time, and the backend's time now."""

    users: list[User]
    rooms: list[Room]
    now: float


def check_user(user: User) -> None:
    if not valid_user_id(user.id):
        raise InvalidEntry(f"bad user id {user.id!r}")
    if not valid_unit_code(user.unit):
        raise InvalidEntry(f"bad unit code {user.unit!r}")


def check_room(room: Room) -> None:
    if not valid_name(room.id):
        raise InvalidEntry(f"bad room id {room.id!r}")
    for unit in (room.owner_unit, *room.member_units):
        if not valid_unit_code(unit):
            raise InvalidEntry(f"bad unit code {unit!r}")


def roles_text(roles: Iterable[str]) -> str:
    """Roles as stored in a text column: sorted, space-separated."""
    return " ".join(sorted(set(roles)))


def roles_from_text(text: str) -> frozenset[str]:
    return frozenset(text.split())


class Directory(Protocol):
    """Who is who, which unit may open which planning session, and what happened.

    Guarantees:
    - Reads return committed data only; a write is visible to every node's
      reads once it returns.
    - ``set_roles`` and ``set_disabled`` commit the change and its audit event
      in one transaction: a change is never stored without its audit row, nor
      the row without the change. Both stamp the user's change time.
    - ``put_room`` replaces the room's title, owner and members atomically and
      stamps its change time.
    - ``changes(since)`` returns every user and room whose change time is later
      than ``since`` (a ``Changes.now`` from an earlier call, minus some
      overlap). A change committed by a transaction that started before the
      previous call may carry an earlier stamp: callers poll with an overlap of
      a few seconds and treat what they see again as a no-op.
    - ``put_units`` and ``put_users`` insert what is missing and never
      overwrite what exists, so seeding twice (or from two nodes at once)
      changes nothing and never undoes an operator's change.
    - ``append_audit`` stores a batch atomically; records keep the batch
      order and get increasing ids.
    - A write that names a unit that does not exist, or a malformed id, raises
      ``InvalidEntry`` and changes nothing.
    - When the backend is down every call raises ``rooms.store.StoreUnavailable``.
    """

    async def open(self) -> None: ...

    async def close(self) -> None: ...

    async def units(self) -> list[Unit]: ...

    async def put_units(self, units: Sequence[Unit]) -> int:
        """Insert missing units; return how many were new."""
        ...

    async def user(self, user_id: str) -> User | None: ...

    async def users(self, unit: str | None = None) -> list[User]:
        """Users of ``unit`` (every user when None), ordered by id."""
        ...

    async def put_users(self, users: Sequence[User]) -> int:
        """Insert missing users; return how many were new."""
        ...

    async def set_roles(self, user_id: str, roles: frozenset[str], audit: AuditEvent) -> User | None:
        """Replace the roles; None if there is no such user (nothing written)."""
        ...

    async def set_disabled(self, user_id: str, disabled: bool, audit: AuditEvent) -> User | None:
        """Disable or enable; None if there is no such user (nothing written)."""
        ...

    async def room(self, room_id: str) -> Room | None: ...

    async def rooms(self, unit: str | None = None) -> list[Room]:
        """Rooms ``unit`` owns or is a member of (every room when None), by id."""
        ...

    async def put_room(self, room: Room) -> None: ...

    async def changes(self, since: float) -> Changes: ...

    async def append_audit(self, events: Sequence[AuditEvent]) -> None: ...

    async def audit_trail(
        self,
        *,
        actor: str | None = None,
        action: str | None = None,
        after_id: int = 0,
        limit: int = 100,
    ) -> list[AuditRecord]:
        """Stored events after ``after_id``, oldest first, filtered, at most ``limit``."""
        ...
