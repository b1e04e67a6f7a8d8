"""SQLite monitor store: the embedded default. Single node only.

The database file of the document store, on a connection of its own (see
``rooms.sqlite_store.SqliteDatabase``). Every write is one ``BEGIN
IMMEDIATE`` transaction, so writes are serialised: the duplicate checks of
``insert_alert`` and the compare-and-set of ``transition`` cannot race.
Guarantees: ``rooms.monitor``.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Mapping
from dataclasses import replace
from typing import Any

import orjson

from rooms import sqlite_events
from rooms.events import Event
from rooms.monitor import (
    ALERT_COLUMNS,
    EVENT_OF,
    NEAR_SCAN,
    RULE_COLUMNS,
    SOURCE_COLUMNS,
    TRANSITIONS,
    Actor,
    Alert,
    AlertQuery,
    FetchOutcome,
    IllegalTransition,
    Near,
    NewAlert,
    Rule,
    Source,
    alert_from_row,
    alert_publications,
    appended,
    escalation_channels,
    hamming,
    history_entry,
    new_id,
    rule_from_row,
    rule_values,
    source_changes,
    source_from_row,
)
from rooms.sqlite_directory import _insert_audit
from rooms.sqlite_store import SqliteDatabase

__all__ = ["SqliteMonitor"]

Result = tuple[Alert, list[Event]]


class SqliteMonitor(SqliteDatabase):
    """``rooms.monitor.MonitorStore`` on the SQLite file."""

    what = "monitor store"
    thread_name = "sqlite-monitor"

    # -- sources -----------------------------------------------------------

    async def sources(self, *, after: str | None = None, limit: int = 50) -> list[Source]:
        def read(db: sqlite3.Connection) -> list[Source]:
            rows = db.execute(
                f"SELECT {SOURCE_COLUMNS} FROM monitor_sources WHERE id > ? ORDER BY id LIMIT ?", (after or "", limit)
            ).fetchall()
            return [source_from_row(r) for r in rows]

        return await self._run(read)

    async def source(self, source_id: str) -> Source | None:
        def read(db: sqlite3.Connection) -> Source | None:
            return _source(db, source_id)

        return await self._run(read)

    async def create_source(self, source: Source, actor: Actor) -> Source:
        def txn(db: sqlite3.Connection) -> Source:
            db.execute(
                "INSERT INTO monitor_sources (id, url, name, fetch_interval, fetch_timeout, enabled, created_by, "
                "created_at, updated_at, next_fetch_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, 0)",
                (source.id, source.url, source.name, source.interval, source.timeout, source.enabled,
                 source.created_by, source.created_at, source.updated_at),
            )  # fmt: skip
            _insert_audit(db, [actor.audit("monitor", source.created_at, source.id, {"change": "source.create"})])
            found = _source(db, source.id)
            assert found is not None
            return found

        return await self._write(txn)

    async def update_source(
        self, source_id: str, changes: Mapping[str, Any], actor: Actor, now: float
    ) -> Source | None:
        columns = source_changes(changes, now)

        def txn(db: sqlite3.Connection) -> Source | None:
            sets = ", ".join(f"{c} = ?" for c in columns)
            cur = db.execute(f"UPDATE monitor_sources SET {sets} WHERE id = ?", (*columns.values(), source_id))
            if cur.rowcount == 0:
                return None
            detail = {"change": "source.update", "fields": sorted(changes)}
            _insert_audit(db, [actor.audit("monitor", now, source_id, detail)])
            return _source(db, source_id)

        return await self._write(txn)

    async def delete_source(self, source_id: str, actor: Actor, now: float) -> bool:
        def txn(db: sqlite3.Connection) -> bool:
            if db.execute("DELETE FROM monitor_sources WHERE id = ?", (source_id,)).rowcount == 0:
                return False
            _insert_audit(db, [actor.audit("monitor", now, source_id, {"change": "source.delete"})])
            return True

        return await self._write(txn)

    async def due_sources(self, now: float, limit: int) -> list[Source]:
        def read(db: sqlite3.Connection) -> list[Source]:
            rows = db.execute(
                f"SELECT {SOURCE_COLUMNS} FROM monitor_sources WHERE enabled AND next_fetch_at <= ? "
                "ORDER BY next_fetch_at LIMIT ?",
                (now, limit),
            ).fetchall()
            return [source_from_row(r) for r in rows]

        return await self._run(read)

    async def record_fetch(self, source_id: str, outcome: FetchOutcome) -> None:
        def txn(db: sqlite3.Connection) -> None:
            o = outcome
            if o.error is None:
                db.execute(
                    "UPDATE monitor_sources SET last_fetch_at = ?, last_success_at = ?, failures = 0, "
                    "next_fetch_at = ?, etag = coalesce(?, etag), last_modified = coalesce(?, last_modified), "
                    "items_total = items_total + ? WHERE id = ?",
                    (o.at, o.at, o.next_fetch_at, o.etag, o.last_modified, o.items, source_id),
                )
            else:
                db.execute(
                    "UPDATE monitor_sources SET last_fetch_at = ?, last_error = ?, last_error_at = ?, "
                    "failures = failures + 1, next_fetch_at = ? WHERE id = ?",
                    (o.at, o.error, o.at, o.next_fetch_at, source_id),
                )

        await self._write(txn)

    # -- rules -------------------------------------------------------------

    async def rules(self, *, after: str | None = None, limit: int = 50, enabled_only: bool = False) -> list[Rule]:
        def read(db: sqlite3.Connection) -> list[Rule]:
            rows = db.execute(
                f"SELECT {RULE_COLUMNS} FROM monitor_rules WHERE id > ? AND (enabled OR NOT ?) ORDER BY id LIMIT ?",
                (after or "", enabled_only, limit),
            ).fetchall()
            return [rule_from_row(r) for r in rows]

        return await self._run(read)

    async def rule(self, rule_id: str) -> Rule | None:
        def read(db: sqlite3.Connection) -> Rule | None:
            return _rule(db, rule_id)

        return await self._run(read)

    async def create_rule(self, rule: Rule, actor: Actor) -> Rule:
        def txn(db: sqlite3.Connection) -> Rule:
            marks = ", ".join("?" * len(rule_values(rule)))
            db.execute(f"INSERT INTO monitor_rules ({RULE_COLUMNS}) VALUES ({marks})", rule_values(rule))
            _insert_audit(db, [actor.audit("monitor", rule.created_at, rule.id, {"change": "rule.create"})])
            found = _rule(db, rule.id)
            assert found is not None
            return found

        return await self._write(txn)

    async def update_rule(self, rule: Rule, actor: Actor) -> Rule | None:
        def txn(db: sqlite3.Connection) -> Rule | None:
            values = rule_values(rule)
            names = RULE_COLUMNS.split(", ")
            sets = ", ".join(f"{c} = ?" for c in names if c not in ("id", "created_by", "created_at"))
            kept = [v for c, v in zip(names, values, strict=True) if c not in ("id", "created_by", "created_at")]
            if db.execute(f"UPDATE monitor_rules SET {sets} WHERE id = ?", (*kept, rule.id)).rowcount == 0:
                return None
            _insert_audit(db, [actor.audit("monitor", rule.updated_at, rule.id, {"change": "rule.update"})])
            return _rule(db, rule.id)

        return await self._write(txn)

    async def delete_rule(self, rule_id: str, actor: Actor, now: float) -> bool:
        def txn(db: sqlite3.Connection) -> bool:
            if db.execute("DELETE FROM monitor_rules WHERE id = ?", (rule_id,)).rowcount == 0:
                return False
            _insert_audit(db, [actor.audit("monitor", now, rule_id, {"change": "rule.delete"})])
            return True

        return await self._write(txn)

    async def unit_names(self) -> dict[str, str]:
        def read(db: sqlite3.Connection) -> dict[str, str]:
            rows = db.execute("SELECT code, name_zh FROM units WHERE kind <> 'city_outlet' ORDER BY code").fetchall()
            return {str(code): str(name) for code, name in rows}

        return await self._run(read)

    # -- alerts ------------------------------------------------------------

    async def insert_alert(self, alert: NewAlert, near: Near, now: float) -> Result | None:
        def txn(db: sqlite3.Connection) -> Result | None:
            if db.execute(
                "SELECT 1 FROM monitor_alerts WHERE url_key = ? OR text_key = ?", (alert.url_key, alert.text_key)
            ).fetchone():
                return None
            if alert.simhash is not None and any(
                hamming(int(h), alert.simhash) <= near.distance
                for (h,) in db.execute(
                    "SELECT simhash FROM monitor_alerts WHERE created_at >= ? AND simhash IS NOT NULL "
                    "ORDER BY seq DESC LIMIT ?",
                    (now - near.window, NEAR_SCAN),
                )
            ):
                return None
            alert_id = new_id("al")
            history = appended((), history_entry(now, None, "new", "", unit=alert.unit, routed_by=alert.routed_by))
            row = db.execute(
                "INSERT INTO monitor_alerts (id, url_key, text_key, simhash, title, summary, url, source, rules, "
                "matched, severity, unit, routed_by, status, published_at, created_at, updated_at, history) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 'new', ?, ?, ?, ?) ON CONFLICT DO NOTHING "
                f"RETURNING {ALERT_COLUMNS}",
                (alert_id, alert.url_key, alert.text_key, alert.simhash, alert.title, alert.summary, alert.url,
                 alert.source, _json(list(alert.rules)), _json(list(alert.matched)), alert.severity, alert.unit,
                 alert.routed_by, alert.published_at, now, now, history),
            ).fetchone()  # fmt: skip
            if row is None:
                return None
            stored = alert_from_row(row)
            return stored, sqlite_events.append_in(db, alert_publications(stored, "alert.new"), now)

        return await self._write(txn)

    async def alerts(self, query: AlertQuery) -> list[Alert]:
        where: list[str] = ["1 = 1"]
        args: list[Any] = []
        if query.status is not None:
            where.append("status = ?")
            args.append(query.status)
        if query.unit is not None:
            where.append("(unit = ? OR escalated_to = ?)")
            args += [query.unit, query.unit]
        if query.severity is not None:
            where.append("severity = ?")
            args.append(query.severity)
        if query.after is not None:
            where.append("created_at > ?")
            args.append(query.after)
        if query.before is not None:
            where.append("created_at < ?")
            args.append(query.before)
        if query.below_seq is not None:
            where.append("seq < ?")
            args.append(query.below_seq)

        def read(db: sqlite3.Connection) -> list[Alert]:
            rows = db.execute(
                f"SELECT {ALERT_COLUMNS} FROM monitor_alerts WHERE {' AND '.join(where)} ORDER BY seq DESC LIMIT ?",
                (*args, query.limit),
            ).fetchall()
            return [alert_from_row(r) for r in rows]

        return await self._run(read)

    async def alert(self, alert_id: str) -> Alert | None:
        def read(db: sqlite3.Connection) -> Alert | None:
            return _alert(db, alert_id)

        return await self._run(read)

    async def transition(
        self,
        alert_id: str,
        action: str,
        actor: Actor,
        now: float,
        *,
        reason: str = "",
        refs: Mapping[str, str] | None = None,
    ) -> Result | None:
        refs = dict(refs or {})

        def txn(db: sqlite3.Connection) -> Result | None:
            alert = _alert(db, alert_id)
            if alert is None:
                return None
            state = TRANSITIONS[alert.status].get(action)
            if state is None:
                raise IllegalTransition(alert.status, action)
            entry = history_entry(now, actor.user, action, reason, **refs)
            topic, task = refs.get("topic", alert.topic), refs.get("task", alert.task)
            db.execute(
                "UPDATE monitor_alerts SET status = ?, topic = ?, task = ?, updated_at = ?, history = ? WHERE id = ?",
                (state, topic, task, now, appended(alert.history, entry), alert_id),
            )
            updated = replace(alert, status=state, topic=topic, task=task, updated_at=now,
                              history=(*alert.history, entry))  # fmt: skip
            extra = escalation_channels(alert.escalated_to) if alert.escalated_at is not None else []
            events = sqlite_events.append_in(db, alert_publications(updated, EVENT_OF[action], extra=extra), now)
            detail = {"action": action, "from": alert.status, "to": state, "reason": reason, **refs}
            _insert_audit(db, [actor.audit("alert", now, alert_id, detail)])
            return updated, events

        return await self._write(txn)

    async def escalate(self, before: float, unit: str | None, now: float) -> list[Result]:
        def txn(db: sqlite3.Connection) -> list[Result]:
            rows = db.execute(
                f"SELECT {ALERT_COLUMNS} FROM monitor_alerts WHERE severity = 'high' AND status = 'new' "
                "AND escalated_at IS NULL AND created_at <= ? ORDER BY seq LIMIT 100",
                (before,),
            ).fetchall()
            out = []
            for alert in map(alert_from_row, rows):
                entry = history_entry(now, None, "escalate", "not acknowledged in time", to=unit)
                db.execute(
                    "UPDATE monitor_alerts SET escalated_at = ?, escalated_to = ?, updated_at = ?, history = ? "
                    "WHERE id = ?",
                    (now, unit, now, appended(alert.history, entry), alert.id),
                )
                updated = replace(alert, escalated_at=now, escalated_to=unit, updated_at=now,
                                  history=(*alert.history, entry))  # fmt: skip
                publications = alert_publications(updated, "alert.escalated", extra=escalation_channels(unit))
                out.append((updated, sqlite_events.append_in(db, publications, now)))
                detail = {"action": "escalate", "to": unit}
                _insert_audit(db, [Actor(None).audit("alert", now, alert.id, detail)])
            return out

        return await self._write(txn)


def _source(db: sqlite3.Connection, source_id: str) -> Source | None:
    row = db.execute(f"SELECT {SOURCE_COLUMNS} FROM monitor_sources WHERE id = ?", (source_id,)).fetchone()
    return source_from_row(row) if row is not None else None


def _rule(db: sqlite3.Connection, rule_id: str) -> Rule | None:
    row = db.execute(f"SELECT {RULE_COLUMNS} FROM monitor_rules WHERE id = ?", (rule_id,)).fetchone()
    return rule_from_row(row) if row is not None else None


def _alert(db: sqlite3.Connection, alert_id: str) -> Alert | None:
    row = db.execute(f"SELECT {ALERT_COLUMNS} FROM monitor_alerts WHERE id = ?", (alert_id,)).fetchone()
    return alert_from_row(row) if row is not None else None


def _json(value: Any) -> str:
    return orjson.dumps(value).decode()
