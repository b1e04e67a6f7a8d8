"""The monitor store's operations, written once over ``rooms.sql.Tx`` for both backends.

A backend (``rooms.sqlite_monitor``, ``rooms.postgres_monitor``) adds its
transactions (``_transact``, ``_read``), ``open`` / ``close``, and what its
database needs to serialise alert inserts and share escalations between
nodes (``_serialise_alert_inserts``, ``skip_locked``). The guarantees are
``rooms.monitor``'s. Audit rows and live events are queued on the ``Tx``
and written at commit, in the same transaction.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import replace
from typing import Any, TypeVar

import orjson

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
    dumps,
    escalation_channels,
    hamming,
    history_entry,
    new_id,
    rule_from_row,
    rule_values,
    source_changes,
    source_from_row,
)
from rooms.sql import Tx, marks

__all__ = ["MonitorOps"]

T = TypeVar("T")
Result = tuple[Alert, list[Event]]

RULE_FIXED = ("id", "created_by", "created_at")  # kept by an update


class MonitorOps:
    """``rooms.monitor.MonitorStore`` over ``rooms.sql.Tx``."""

    skip_locked = ""  # appended to the escalation's SELECT (PostgreSQL: rows another node holds are skipped)

    async def _transact(self, fn: Callable[[Tx], Awaitable[T]]) -> tuple[T, list[Event]]:
        """Run ``fn`` in one write transaction; commit with its queued events and audit rows."""
        raise NotImplementedError

    async def _read(self, fn: Callable[[Tx], Awaitable[T]]) -> T:
        """Run ``fn`` to read (it writes nothing)."""
        raise NotImplementedError

    async def _serialise_alert_inserts(self, tx: Tx) -> None:
        """Hold alert inserts of every writer until ``tx`` ends (SQLite's single writer does already)."""

    async def _change(self, fn: Callable[[Tx], Awaitable[T]]) -> T:
        """A write whose events (none) need no announcing."""
        value, _ = await self._transact(fn)
        return value

    # -- sources -----------------------------------------------------------

    async def sources(self, *, after: str | None = None, limit: int = 50) -> list[Source]:
        async def read(tx: Tx) -> list[Source]:
            sql = f"SELECT {SOURCE_COLUMNS} FROM monitor_sources WHERE id > ? ORDER BY id LIMIT ?"
            return [source_from_row(r) for r in await tx.rows(sql, after or "", limit)]

        return await self._read(read)

    async def source(self, source_id: str) -> Source | None:
        return await self._read(lambda tx: _source(tx, source_id))

    async def create_source(self, source: Source, actor: Actor) -> Source:
        async def change(tx: Tx) -> Source:
            await tx.execute(
                "INSERT INTO monitor_sources (id, url, name, fetch_interval, fetch_timeout, enabled, created_by, "
                "created_at, updated_at, next_fetch_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, 0)",
                source.id, source.url, source.name, source.interval, source.timeout, source.enabled,
                source.created_by, source.created_at, source.updated_at,
            )  # fmt: skip
            tx.audit(actor.audit("monitor", source.created_at, source.id, {"change": "source.create"}))
            found = await _source(tx, source.id)
            assert found is not None
            return found

        return await self._change(change)

    async def update_source(
        self, source_id: str, changes: Mapping[str, Any], actor: Actor, now: float
    ) -> Source | None:
        columns = source_changes(changes, now)
        sets = ", ".join(f"{c} = ?" for c in columns)

        async def change(tx: Tx) -> Source | None:
            if not await tx.execute(f"UPDATE monitor_sources SET {sets} WHERE id = ?", *columns.values(), source_id):
                return None
            detail = {"change": "source.update", "fields": sorted(changes)}
            tx.audit(actor.audit("monitor", now, source_id, detail))
            return await _source(tx, source_id)

        return await self._change(change)

    async def delete_source(self, source_id: str, actor: Actor, now: float) -> bool:
        return await self._delete("monitor_sources", "source.delete", source_id, actor, now)

    async def _delete(self, table: str, change: str, row_id: str, actor: Actor, now: float) -> bool:
        async def delete(tx: Tx) -> bool:
            if not await tx.execute(f"DELETE FROM {table} WHERE id = ?", row_id):
                return False
            tx.audit(actor.audit("monitor", now, row_id, {"change": change}))
            return True

        return await self._change(delete)

    async def due_sources(self, now: float, limit: int) -> list[Source]:
        async def read(tx: Tx) -> list[Source]:
            sql = (
                f"SELECT {SOURCE_COLUMNS} FROM monitor_sources WHERE enabled AND next_fetch_at <= ? "
                "ORDER BY next_fetch_at LIMIT ?"
            )
            return [source_from_row(r) for r in await tx.rows(sql, now, limit)]

        return await self._read(read)

    async def record_fetch(self, source_id: str, outcome: FetchOutcome) -> None:
        o = outcome

        async def record(tx: Tx) -> None:
            if o.error is None:
                await tx.execute(
                    "UPDATE monitor_sources SET last_fetch_at = ?, last_success_at = ?, failures = 0, "
                    "next_fetch_at = ?, etag = coalesce(?, etag), last_modified = coalesce(?, last_modified), "
                    "items_total = items_total + ? WHERE id = ?",
                    o.at, o.at, o.next_fetch_at, o.etag, o.last_modified, o.items, source_id,
                )  # fmt: skip
            else:
                await tx.execute(
                    "UPDATE monitor_sources SET last_fetch_at = ?, last_error = ?, last_error_at = ?, "
                    "failures = failures + 1, next_fetch_at = ? WHERE id = ?",
                    o.at, o.error, o.at, o.next_fetch_at, source_id,
                )  # fmt: skip

        await self._change(record)

    # -- rules -------------------------------------------------------------

    async def rules(self, *, after: str | None = None, limit: int = 50, enabled_only: bool = False) -> list[Rule]:
        async def read(tx: Tx) -> list[Rule]:
            sql = f"SELECT {RULE_COLUMNS} FROM monitor_rules WHERE id > ? AND (enabled OR NOT ?) ORDER BY id LIMIT ?"
            return [rule_from_row(r) for r in await tx.rows(sql, after or "", enabled_only, limit)]

        return await self._read(read)

    async def rule(self, rule_id: str) -> Rule | None:
        return await self._read(lambda tx: _rule(tx, rule_id))

    async def create_rule(self, rule: Rule, actor: Actor) -> Rule:
        values = rule_values(rule)

        async def change(tx: Tx) -> Rule:
            await tx.execute(f"INSERT INTO monitor_rules ({RULE_COLUMNS}) VALUES ({marks(len(values))})", *values)
            tx.audit(actor.audit("monitor", rule.created_at, rule.id, {"change": "rule.create"}))
            found = await _rule(tx, rule.id)
            assert found is not None
            return found

        return await self._change(change)

    async def update_rule(self, rule: Rule, actor: Actor) -> Rule | None:
        pairs = [
            (c, v) for c, v in zip(RULE_COLUMNS.split(", "), rule_values(rule), strict=True) if c not in RULE_FIXED
        ]
        sets = ", ".join(f"{c} = ?" for c, _ in pairs)

        async def change(tx: Tx) -> Rule | None:
            if not await tx.execute(f"UPDATE monitor_rules SET {sets} WHERE id = ?", *(v for _, v in pairs), rule.id):
                return None
            tx.audit(actor.audit("monitor", rule.updated_at, rule.id, {"change": "rule.update"}))
            return await _rule(tx, rule.id)

        return await self._change(change)

    async def delete_rule(self, rule_id: str, actor: Actor, now: float) -> bool:
        return await self._delete("monitor_rules", "rule.delete", rule_id, actor, now)

    async def unit_names(self) -> dict[str, str]:
        async def read(tx: Tx) -> dict[str, str]:
            rows = await tx.rows("SELECT code, name_zh FROM units WHERE kind <> 'city_outlet' ORDER BY code")
            return {str(code): str(name) for code, name in rows}

        return await self._read(read)

    # -- alerts ------------------------------------------------------------

    async def insert_alert(self, alert: NewAlert, near: Near, now: float) -> Result | None:
        async def change(tx: Tx) -> Alert | None:
            await self._serialise_alert_inserts(tx)
            sql = "SELECT 1 FROM monitor_alerts WHERE url_key = ? OR text_key = ?"
            if await tx.row(sql, alert.url_key, alert.text_key) is not None:
                return None
            if alert.simhash is not None:
                recent = await tx.rows(
                    "SELECT simhash FROM monitor_alerts WHERE created_at >= ? AND simhash IS NOT NULL "
                    "ORDER BY seq DESC LIMIT ?",
                    now - near.window,
                    NEAR_SCAN,
                )
                if any(hamming(int(r[0]), alert.simhash) <= near.distance for r in recent):
                    return None
            history = appended((), history_entry(now, None, "new", "", unit=alert.unit, routed_by=alert.routed_by))
            row = await tx.row(
                "INSERT INTO monitor_alerts (id, url_key, text_key, simhash, title, summary, url, source, rules, "
                "matched, severity, unit, routed_by, status, published_at, created_at, updated_at, history) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 'new', ?, ?, ?, ?) ON CONFLICT DO NOTHING "
                f"RETURNING {ALERT_COLUMNS}",
                new_id("al"), alert.url_key, alert.text_key, alert.simhash, alert.title, alert.summary, alert.url,
                alert.source, dumps(list(alert.rules)), dumps(list(alert.matched)), alert.severity, alert.unit,
                alert.routed_by, alert.published_at, now, now, history,
            )  # fmt: skip
            if row is None:
                return None
            stored = alert_from_row(row)
            tx.publish(alert_publications(stored, "alert.new", actor=None))
            return stored

        stored, events = await self._transact(change)
        return None if stored is None else (stored, events)

    async def alerts(self, query: AlertQuery) -> list[Alert]:
        where: list[str] = ["1 = 1"]
        args: list[Any] = []
        for clause, value in (
            ("status = ?", query.status),
            ("(unit = ? OR escalated_to = ?)", query.unit),
            ("severity = ?", query.severity),
            ("created_at > ?", query.after),
            ("created_at < ?", query.before),
            ("seq < ?", query.below_seq),
        ):
            if value is not None:
                where.append(clause)
                args += [value] * clause.count("?")
        sql = f"SELECT {ALERT_COLUMNS} FROM monitor_alerts WHERE {' AND '.join(where)} ORDER BY seq DESC LIMIT ?"

        async def read(tx: Tx) -> list[Alert]:
            return [alert_from_row(r) for r in await tx.rows(sql, *args, query.limit)]

        return await self._read(read)

    async def alert(self, alert_id: str) -> Alert | None:
        return await self._read(lambda tx: _alert(tx, alert_id))

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

        async def change(tx: Tx) -> Alert | None:
            alert = await _alert(tx, alert_id, lock=True)
            if alert is None:
                return None
            state = TRANSITIONS[alert.status].get(action)
            if state is None:
                raise IllegalTransition(alert.status, action)
            entry = history_entry(now, actor.user, action, reason, **refs)
            topic, task = refs.get("topic", alert.topic), refs.get("task", alert.task)
            await tx.execute(
                "UPDATE monitor_alerts SET status = ?, topic = ?, task = ?, updated_at = ?, history = ? WHERE id = ?",
                state, topic, task, now, appended(alert.history, entry), alert_id,
            )  # fmt: skip
            updated = replace(alert, status=state, topic=topic, task=task, updated_at=now,
                              history=(*alert.history, entry))  # fmt: skip
            extra = escalation_channels(alert.escalated_to) if alert.escalated_at is not None else []
            tx.publish(alert_publications(updated, EVENT_OF[action], actor=actor.user, extra=extra))
            detail = {"action": action, "from": alert.status, "to": state, "reason": reason, **refs}
            tx.audit(actor.audit("alert", now, alert_id, detail))
            return updated

        updated, events = await self._transact(change)
        return None if updated is None else (updated, events)

    async def escalate(self, before: float, unit: str | None, now: float) -> list[Result]:
        async def change(tx: Tx) -> list[Alert]:
            rows = await tx.rows(
                f"SELECT {ALERT_COLUMNS} FROM monitor_alerts WHERE severity = 'high' AND status = 'new' "
                f"AND escalated_at IS NULL AND created_at <= ? ORDER BY seq LIMIT 100{self.skip_locked}",
                before,
            )
            out = []
            for alert in map(alert_from_row, rows):
                entry = history_entry(now, None, "escalate", "not acknowledged in time", to=unit)
                await tx.execute(
                    "UPDATE monitor_alerts SET escalated_at = ?, escalated_to = ?, updated_at = ?, history = ? "
                    "WHERE id = ?",
                    now, unit, now, appended(alert.history, entry), alert.id,
                )  # fmt: skip
                updated = replace(alert, escalated_at=now, escalated_to=unit, updated_at=now,
                                  history=(*alert.history, entry))  # fmt: skip
                tx.publish(alert_publications(updated, "alert.escalated", actor=None, extra=escalation_channels(unit)))
                tx.audit(Actor(None).audit("alert", now, alert.id, {"action": "escalate", "to": unit}))
                out.append(updated)
            return out

        escalated, events = await self._transact(change)
        of: dict[str, list[Event]] = {}
        for event in events:
            of.setdefault(orjson.loads(event.data)["id"], []).append(event)
        return [(alert, of.get(alert.id, [])) for alert in escalated]


async def _source(tx: Tx, source_id: str) -> Source | None:
    row = await tx.row(f"SELECT {SOURCE_COLUMNS} FROM monitor_sources WHERE id = ?", source_id)
    return source_from_row(row) if row is not None else None


async def _rule(tx: Tx, rule_id: str) -> Rule | None:
    row = await tx.row(f"SELECT {RULE_COLUMNS} FROM monitor_rules WHERE id = ?", rule_id)
    return rule_from_row(row) if row is not None else None


async def _alert(tx: Tx, alert_id: str, *, lock: bool = False) -> Alert | None:
    sql = f"SELECT {ALERT_COLUMNS} FROM monitor_alerts WHERE id = ?"
    row = await (tx.lock(sql, alert_id) if lock else tx.row(sql, alert_id))
    return alert_from_row(row) if row is not None else None
