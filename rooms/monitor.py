"""The monitor's store seam: feed sources, matching rules and alerts.

Backends: ``SqliteMonitor`` (embedded default, single node) and
``PostgresMonitor`` (cluster); both pass ``tests/monitor/test_store.py``.
They share their operations, written once over ``rooms.sql.Tx``
(``rooms.monitor_ops``), and add their transactions. Their tables come from
migration ``0006_monitor``.

Guarantees of every backend:

- **An alert is stored once.** ``insert_alert`` refuses a duplicate: the
  same canonical URL (``url_key``) or the same normalised title
  (``text_key``), both unique columns, so two workers racing with one item
  store it once; and a title within ``Near.distance`` bits (SimHash) of an
  alert of the last ``Near.window`` seconds. Inserts are serialised (SQLite:
  one writer; PostgreSQL: a transaction advisory lock), so the near-identical
  check is exact too.
- **Change and event together.** An alert's insert, each lifecycle
  transition and each escalation commit in one transaction with its live
  events (``append_in``) and, for people's actions, its audit row. The
  caller announces the returned events after the call returns.
- **Where events go.** ``alerts`` and the routed unit's ``alerts:{unit}``;
  once an alert is escalated, also ``duty`` and the ``alerts:{unit}`` of the
  unit it was escalated to. Their data is the alert without its history,
  plus ``actor`` (the user who acted; ``None`` for ``alert.new`` and
  ``alert.escalated``, done by the jobs).
- **Transitions follow ``TRANSITIONS``** and are compare-and-set: an action
  that is not allowed in the alert's state *now* raises
  ``IllegalTransition`` carrying the state and the allowed actions, and
  changes nothing.
- When the backend is down every call raises ``rooms.store.StoreUnavailable``.
"""

from __future__ import annotations

import secrets
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, NamedTuple, Protocol

import orjson

from rooms.directory import AuditEvent
from rooms.events import Event, Publication

__all__ = [
    "ALERT_COLUMNS",
    "EVENT_OF",
    "NEAR_SCAN",
    "RULE_COLUMNS",
    "SEVERITIES",
    "SOURCE_COLUMNS",
    "SOURCE_FIELDS",
    "STATUSES",
    "TRANSITIONS",
    "Actor",
    "Alert",
    "AlertQuery",
    "FetchOutcome",
    "IllegalTransition",
    "MonitorStore",
    "Near",
    "NewAlert",
    "Rule",
    "Source",
    "Story",
    "alert_from_row",
    "alert_json",
    "alert_publications",
    "appended",
    "dumps",
    "escalation_channels",
    "hamming",
    "history_entry",
    "new_id",
    "rule_from_row",
    "rule_values",
    "source_changes",
    "source_from_row",
]

SEVERITIES = ("low", "medium", "high")
NEAR_SCAN = 5000  # recent alerts compared for near-identical titles
STATUSES = ("new", "acknowledged", "assigned", "resolved", "dismissed")

# state -> {action: next state}. Terminal states allow nothing.
TRANSITIONS: dict[str, dict[str, str]] = {
    "new": {"acknowledge": "acknowledged", "dismiss": "dismissed"},
    "acknowledged": {"assign": "assigned", "resolve": "resolved", "dismiss": "dismissed"},
    "assigned": {"resolve": "resolved", "dismiss": "dismissed"},
    "resolved": {},
    "dismissed": {},
}
# The live event each action publishes.
EVENT_OF = {
    "acknowledge": "alert.acknowledged",
    "assign": "alert.assigned",
    "resolve": "alert.resolved",
    "dismiss": "alert.dismissed",
}


def new_id(prefix: str) -> str:
    return f"{prefix}-{secrets.token_hex(6)}"


def hamming(a: int, b: int) -> int:
    """Bits that differ between two 64-bit SimHashes (stored signed)."""
    return ((a ^ b) & 0xFFFF_FFFF_FFFF_FFFF).bit_count()


class IllegalTransition(Exception):
    """The action is not allowed in the alert's current state."""

    def __init__(self, state: str, action: str) -> None:
        self.state = state
        self.allowed = sorted(TRANSITIONS[state])
        super().__init__(f"an alert that is {state} cannot be {action}d; allowed: {', '.join(self.allowed) or 'none'}")


class Actor(NamedTuple):
    """Who acts, for the history and the audit row."""

    user: str | None
    unit: str | None = None
    client: str | None = None
    node: str = ""

    def audit(self, action: str, at: float, target: str, detail: Mapping[str, Any]) -> AuditEvent:
        return AuditEvent(action, at, self.user, self.unit, self.client, target, detail, self.node)


@dataclass(frozen=True, slots=True)
class Source:
    """A feed to watch (RSS 2.0 or 1.0, Atom or JSON Feed), with its fetch state and health."""

    id: str
    url: str
    name: str
    interval: float  # seconds between fetches while healthy
    timeout: float  # seconds a whole fetch may take
    enabled: bool = True
    created_by: str | None = None
    created_at: float = 0.0
    updated_at: float = 0.0
    etag: str | None = None
    last_modified: str | None = None
    last_fetch_at: float | None = None
    last_success_at: float | None = None
    last_error: str | None = None
    last_error_at: float | None = None
    failures: int = 0  # consecutive
    next_fetch_at: float = 0.0
    items_total: int = 0

    def json(self) -> dict[str, Any]:
        health = "pending" if self.last_fetch_at is None else "failing" if self.failures else "ok"
        return {
            "id": self.id,
            "url": self.url,
            "name": self.name,
            "interval": self.interval,
            "timeout": self.timeout,
            "enabled": self.enabled,
            "created_by": self.created_by,
            "created_at": self.created_at,
            "updated_at": self.updated_at,
            "health": health,
            "last_fetch_at": self.last_fetch_at,
            "last_success_at": self.last_success_at,
            "last_error": self.last_error,
            "last_error_at": self.last_error_at,
            "failures": self.failures,
            "next_fetch_at": self.next_fetch_at,
            "items_total": self.items_total,
        }


SOURCE_COLUMNS = (
    "id, url, name, fetch_interval, fetch_timeout, enabled, created_by, created_at, updated_at, etag, "
    "last_modified, last_fetch_at, last_success_at, last_error, last_error_at, failures, next_fetch_at, items_total"
)


SOURCE_FIELDS = {"url": "url", "name": "name", "interval": "fetch_interval", "timeout": "fetch_timeout",
                 "enabled": "enabled"}  # fmt: skip


def source_changes(changes: Mapping[str, Any], now: float) -> dict[str, Any]:
    """Column values for an update of a source's ``SOURCE_FIELDS``; it is fetched again soon.

    A new URL is another feed: its validators and failure count start over.
    """
    columns = {SOURCE_FIELDS[k]: v for k, v in changes.items()}
    columns |= {"updated_at": now, "next_fetch_at": 0.0}
    if "url" in changes:
        columns |= {"etag": None, "last_modified": None, "failures": 0}
    return columns


def source_from_row(r: Sequence[Any]) -> Source:
    return Source(
        str(r[0]), str(r[1]), str(r[2]), float(r[3]), float(r[4]), bool(r[5]), r[6], float(r[7]), float(r[8]),
        r[9], r[10], r[11], r[12], r[13], r[14], int(r[15]), float(r[16]), int(r[17]),
    )  # fmt: skip


@dataclass(frozen=True, slots=True)
class FetchOutcome:
    """What one fetch of a source did, for its health columns."""

    at: float
    next_fetch_at: float
    error: str | None = None  # None: success (or not modified)
    etag: str | None = None
    last_modified: str | None = None
    items: int = 0


@dataclass(frozen=True, slots=True)
class Rule:
    """Keywords that make an item an alert, and where it goes.

    An item matches when its text contains at least one of ``any_terms``
    (or ``any_terms`` is empty), every one of ``all_terms`` and none of
    ``none_terms``; ``rules`` in ``workers.monitor`` says how text is
    compared. ``regions`` maps a place keyword to a unit code; with
    ``use_unit_names`` the units' own names are place keywords too.
    """

    id: str
    name: str
    any_terms: tuple[str, ...] = ()
    all_terms: tuple[str, ...] = ()
    none_terms: tuple[str, ...] = ()
    regions: Mapping[str, str] = field(default_factory=dict)
    use_unit_names: bool = True
    severity: str = "medium"
    enabled: bool = True
    created_by: str | None = None
    created_at: float = 0.0
    updated_at: float = 0.0

    def json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "name": self.name,
            "any": list(self.any_terms),
            "all": list(self.all_terms),
            "none": list(self.none_terms),
            "regions": dict(self.regions),
            "use_unit_names": self.use_unit_names,
            "severity": self.severity,
            "enabled": self.enabled,
            "created_by": self.created_by,
            "created_at": self.created_at,
            "updated_at": self.updated_at,
        }


RULE_COLUMNS = (
    "id, name, any_terms, all_terms, none_terms, regions, use_unit_names, severity, enabled, created_by, "
    "created_at, updated_at"
)


def rule_from_row(r: Sequence[Any]) -> Rule:
    return Rule(
        str(r[0]), str(r[1]), tuple(orjson.loads(r[2])), tuple(orjson.loads(r[3])), tuple(orjson.loads(r[4])),
        orjson.loads(r[5]), bool(r[6]), str(r[7]), bool(r[8]), r[9], float(r[10]), float(r[11]),
    )  # fmt: skip


def rule_values(rule: Rule) -> tuple[Any, ...]:
    """The row of ``rule`` in ``RULE_COLUMNS`` order."""
    return (
        rule.id, rule.name, dumps(list(rule.any_terms)), dumps(list(rule.all_terms)),
        dumps(list(rule.none_terms)), dumps(dict(rule.regions)), rule.use_unit_names, rule.severity,
        rule.enabled, rule.created_by, rule.created_at, rule.updated_at,
    )  # fmt: skip


@dataclass(frozen=True, slots=True)
class Story:
    """What a new and a stored alert both say: the item, what matched it, where it went."""

    title: str
    summary: str
    url: str
    source: str
    rules: tuple[str, ...]
    matched: tuple[str, ...]
    severity: str
    unit: str | None
    routed_by: str  # region | duty | fallback | none


@dataclass(frozen=True, slots=True)
class NewAlert(Story):
    """A matched item, ready to store (``workers.monitor`` builds it)."""

    published_at: float | None
    url_key: str
    text_key: str
    simhash: int | None  # signed 64-bit; None: too short to compare


class Near(NamedTuple):
    """Near-identical titles: SimHash distance at most ``distance`` within ``window`` seconds."""

    window: float = 3 * 86400.0
    distance: int = 3


@dataclass(frozen=True, slots=True)
class Alert(Story):
    status: str
    topic: str | None
    task: str | None
    published_at: float | None
    created_at: float
    updated_at: float
    escalated_at: float | None
    escalated_to: str | None
    history: tuple[Mapping[str, Any], ...]
    id: str
    seq: int


ALERT_COLUMNS = (
    "id, seq, title, summary, url, source, rules, matched, severity, unit, routed_by, status, topic, task, "
    "published_at, created_at, updated_at, escalated_at, escalated_to, history"
)


def alert_from_row(r: Sequence[Any]) -> Alert:
    """An ``Alert`` from a row in ``ALERT_COLUMNS`` order."""
    return Alert(
        str(r[2]), str(r[3]), str(r[4]), str(r[5]), tuple(orjson.loads(r[6])), tuple(orjson.loads(r[7])),
        str(r[8]), r[9], str(r[10]), str(r[11]), r[12], r[13], r[14], float(r[15]), float(r[16]), r[17], r[18],
        tuple(orjson.loads(r[19])), id=str(r[0]), seq=int(r[1]),
    )  # fmt: skip


def alert_json(alert: Alert, *, history: bool = True) -> dict[str, Any]:
    out: dict[str, Any] = {
        "id": alert.id,
        "title": alert.title,
        "summary": alert.summary,
        "url": alert.url,
        "source": alert.source,
        "severity": alert.severity,
        "unit": alert.unit,
        "routed_by": alert.routed_by,
        "status": alert.status,
        "matched": list(alert.matched),
        "rules": list(alert.rules),
        "topic": alert.topic,
        "task": alert.task,
        "published_at": alert.published_at,
        "created_at": alert.created_at,
        "updated_at": alert.updated_at,
        "escalated_at": alert.escalated_at,
        "escalated_to": alert.escalated_to,
    }
    if history:
        out["history"] = [dict(h) for h in alert.history]
    return out


def alert_publications(alert: Alert, event: str, *, actor: str | None, extra: Sequence[str] = ()) -> list[Publication]:
    """The live event for ``alert``: on ``alerts``, its unit's ``alerts:{unit}``, and ``extra`` channels.

    Its data is the alert without its history plus ``actor``, who acted (``None``: the monitor's jobs),
    so a client tells its own action, echoed from another tab, from someone else's."""
    channels = ["alerts"]
    if alert.unit:
        channels.append(f"alerts:{alert.unit}")
    channels += [c for c in extra if c not in channels]
    return [Publication.of(channels, event, {**alert_json(alert, history=False), "actor": actor})]


def escalation_channels(unit: str | None) -> list[str]:
    """Where an escalation goes besides the alert's own channels."""
    return ["duty", f"alerts:{unit}"] if unit else ["duty"]


class AlertQuery(NamedTuple):
    status: str | None = None
    unit: str | None = None  # routed to, or escalated to, this unit
    severity: str | None = None
    after: float | None = None  # created_at > after
    before: float | None = None  # created_at < before
    below_seq: int | None = None  # the cursor: older than this
    limit: int = 50


def dumps(value: Any) -> str:
    """JSON text for a TEXT column."""
    return orjson.dumps(value).decode()


def history_entry(at: float, actor: str | None, action: str, reason: str, **more: Any) -> dict[str, Any]:
    return {"at": at, "actor": actor, "action": action, "reason": reason, **more}


def appended(history: tuple[Mapping[str, Any], ...], entry: Mapping[str, Any]) -> str:
    return dumps([*map(dict, history), dict(entry)])


class MonitorStore(Protocol):
    """Sources, rules and alerts (see the module docstring for the guarantees)."""

    async def open(self) -> None: ...

    async def close(self) -> None: ...

    # -- sources --
    async def sources(self, *, after: str | None = None, limit: int = 50) -> list[Source]:
        """Sources ordered by id, after the id ``after``."""
        ...

    async def source(self, source_id: str) -> Source | None: ...

    async def create_source(self, source: Source, actor: Actor) -> Source: ...

    async def update_source(
        self, source_id: str, changes: Mapping[str, Any], actor: Actor, now: float
    ) -> Source | None:
        """Change url, name, interval, timeout or enabled; a change of URL forgets the fetch state."""
        ...

    async def delete_source(self, source_id: str, actor: Actor, now: float) -> bool: ...

    async def due_sources(self, now: float, limit: int) -> list[Source]:
        """Enabled sources whose ``next_fetch_at`` has come, soonest first."""
        ...

    async def record_fetch(self, source_id: str, outcome: FetchOutcome) -> None:
        """Store a fetch's result: health, validators (ETag, Last-Modified) and the next fetch time."""
        ...

    # -- rules --
    async def rules(self, *, after: str | None = None, limit: int = 50, enabled_only: bool = False) -> list[Rule]: ...

    async def rule(self, rule_id: str) -> Rule | None: ...

    async def create_rule(self, rule: Rule, actor: Actor) -> Rule: ...

    async def update_rule(self, rule: Rule, actor: Actor) -> Rule | None:
        """Replace a rule's definition (same id); None if it does not exist."""
        ...

    async def delete_rule(self, rule_id: str, actor: Actor, now: float) -> bool: ...

    async def unit_names(self) -> dict[str, str]:
        """Units that are places (parks, sub-districts, towns): code -> Chinese name."""
        ...

    # -- alerts --
    async def insert_alert(self, alert: NewAlert, near: Near, now: float) -> tuple[Alert, list[Event]] | None:
        """Store a new alert with its ``alert.new`` event; None if it duplicates one."""
        ...

    async def alerts(self, query: AlertQuery) -> list[Alert]:
        """Alerts matching ``query``, newest first."""
        ...

    async def alert(self, alert_id: str) -> Alert | None: ...

    async def transition(
        self,
        alert_id: str,
        action: str,
        actor: Actor,
        now: float,
        *,
        reason: str = "",
        refs: Mapping[str, str] | None = None,
    ) -> tuple[Alert, list[Event]] | None:
        """Apply ``action``; None if no such alert; ``IllegalTransition`` if not allowed now.

        ``refs`` (``topic`` or ``task``) is stored with ``assign``.
        """
        ...

    async def escalate(self, before: float, unit: str | None, now: float) -> list[tuple[Alert, list[Event]]]:
        """Escalate, once each, high-severity alerts still ``new`` that were created before ``before``.

        Each gets ``escalated_at``/``escalated_to`` and an ``alert.escalated``
        event on ``alerts``, its unit's channel, ``duty`` and ``alerts:{unit}``.
        """
        ...
