"""What every workflow operation module shares: a change's result, list filters and pages, events, transactions.

``Transactor`` is what the operations (``rooms.workflow_sessions``, ``_topics``,
``_tasks``, ``_duty``) need of a backend: a clock, the node id, and
``_transact`` / ``_read`` over ``rooms.sql.Tx``. The backends
(``rooms.sqlite_workflow``, ``rooms.postgres_workflow``) implement those two.
"""

from __future__ import annotations

import base64
import binascii
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Generic, NamedTuple, TypeVar

import orjson

from rooms.directory import AuditEvent
from rooms.events import MAX_CHANNELS_PER_EVENT, Event, Publication
from rooms.sql import Tx, marks
from rooms.workflow import Actor, Invalid, Page

__all__ = [
    "Change",
    "Filters",
    "Recipient",
    "Transactor",
    "Where",
    "decode_cursor",
    "encode_cursor",
    "page_of",
    "publications",
]

T = TypeVar("T")


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


class Where:
    """A list's ``WHERE`` clause, condition by condition, with its ``?`` arguments in order."""

    def __init__(self) -> None:
        self.conditions: list[str] = []
        self.args: list[object] = []

    def add(self, condition: str, *args: object) -> None:
        self.conditions.append(condition)
        self.args += args

    def listed(self, filters: Filters, table: str = "") -> None:
        """What every list filters on: ``status`` (any of) and the creation time (``table``: a column prefix)."""
        if filters.status:
            self.add(f"{table}status IN ({marks(len(filters.status))})", *filters.status)
        if filters.after is not None:
            self.add(f"{table}created_at >= ?", filters.after)
        if filters.before is not None:
            self.add(f"{table}created_at < ?", filters.before)

    def before_id(self, filters: Filters) -> None:
        """The page after ``filters.cursor`` of a list ordered by ``id`` descending."""
        if filters.cursor is not None:
            (last,) = decode_cursor(filters.cursor, (int,))
            self.add("id < ?", last)

    @property
    def sql(self) -> str:
        return f"WHERE {' AND '.join(self.conditions)}" if self.conditions else ""


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
