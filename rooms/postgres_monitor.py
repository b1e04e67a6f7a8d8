"""PostgreSQL monitor store, for a cluster (see ``rooms.monitor``).

Through the shared asyncpg pool base (``rooms.postgres_store.PostgresPool``).
``insert_alert`` takes a transaction advisory lock first, so alert inserts
of all nodes are serialised and the near-identical check sees every alert
committed before it; the unique columns stay the last word. ``transition``
locks the alert's row (``FOR UPDATE``) for its compare-and-set.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from typing import Any

import orjson

from rooms import postgres_events
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
from rooms.postgres_directory import _insert_audit
from rooms.postgres_store import PostgresPool

__all__ = ["ALERT_LOCK", "PostgresMonitor"]

Result = tuple[Alert, list[Event]]

# (classid, objid) of the transaction advisory lock around alert inserts ("tong", 6).
ALERT_LOCK = (0x746F6E67, 6)


class PostgresMonitor(PostgresPool):
    """``rooms.monitor.MonitorStore`` on PostgreSQL."""

    what = "monitor store"

    # -- sources -----------------------------------------------------------

    async def sources(self, *, after: str | None = None, limit: int = 50) -> list[Source]:
        async def read(conn: Any) -> list[Source]:
            rows = await conn.fetch(
                f"SELECT {SOURCE_COLUMNS} FROM monitor_sources WHERE id > $1 ORDER BY id LIMIT $2", after or "", limit
            )
            return [source_from_row(r) for r in rows]

        return await self._run(read)

    async def source(self, source_id: str) -> Source | None:
        async def read(conn: Any) -> Source | None:
            return await _source(conn, source_id)

        return await self._run(read)

    async def create_source(self, source: Source, actor: Actor) -> Source:
        async def txn(conn: Any) -> Source:
            async with conn.transaction():
                await conn.execute(
                    "INSERT INTO monitor_sources (id, url, name, fetch_interval, fetch_timeout, enabled, created_by, "
                    "created_at, updated_at, next_fetch_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, 0)",
                    source.id, source.url, source.name, source.interval, source.timeout, source.enabled,
                    source.created_by, source.created_at, source.updated_at,
                )  # fmt: skip
                await _insert_audit(
                    conn, [actor.audit("monitor", source.created_at, source.id, {"change": "source.create"})]
                )
                found = await _source(conn, source.id)
            assert found is not None
            return found

        return await self._run(txn)

    async def update_source(
        self, source_id: str, changes: Mapping[str, Any], actor: Actor, now: float
    ) -> Source | None:
        columns = source_changes(changes, now)
        sets = ", ".join(f"{c} = ${i}" for i, c in enumerate(columns, start=2))

        async def txn(conn: Any) -> Source | None:
            async with conn.transaction():
                status = await conn.execute(f"UPDATE monitor_sources SET {sets} WHERE id = $1", source_id,
                                            *columns.values())  # fmt: skip
                if status == "UPDATE 0":
                    return None
                detail = {"change": "source.update", "fields": sorted(changes)}
                await _insert_audit(conn, [actor.audit("monitor", now, source_id, detail)])
                return await _source(conn, source_id)

        return await self._run(txn)

    async def delete_source(self, source_id: str, actor: Actor, now: float) -> bool:
        return await self._delete("monitor_sources", "source.delete", source_id, actor, now)

    async def _delete(self, table: str, change: str, row_id: str, actor: Actor, now: float) -> bool:
        async def txn(conn: Any) -> bool:
            async with conn.transaction():
                if await conn.execute(f"DELETE FROM {table} WHERE id = $1", row_id) == "DELETE 0":
                    return False
                await _insert_audit(conn, [actor.audit("monitor", now, row_id, {"change": change})])
                return True

        return await self._run(txn)

    async def due_sources(self, now: float, limit: int) -> list[Source]:
        async def read(conn: Any) -> list[Source]:
            rows = await conn.fetch(
                f"SELECT {SOURCE_COLUMNS} FROM monitor_sources WHERE enabled AND next_fetch_at <= $1 "
                "ORDER BY next_fetch_at LIMIT $2",
                now,
                limit,
            )
            return [source_from_row(r) for r in rows]

        return await self._run(read)

    async def record_fetch(self, source_id: str, outcome: FetchOutcome) -> None:
        o = outcome

        async def write(conn: Any) -> None:
            if o.error is None:
                await conn.execute(
                    "UPDATE monitor_sources SET last_fetch_at = $2, last_success_at = $2, failures = 0, "
                    "next_fetch_at = $3, etag = coalesce($4, etag), last_modified = coalesce($5, last_modified), "
                    "items_total = items_total + $6 WHERE id = $1",
                    source_id, o.at, o.next_fetch_at, o.etag, o.last_modified, o.items,
                )  # fmt: skip
            else:
                await conn.execute(
                    "UPDATE monitor_sources SET last_fetch_at = $2, last_error = $3, last_error_at = $2, "
                    "failures = failures + 1, next_fetch_at = $4 WHERE id = $1",
                    source_id, o.at, o.error, o.next_fetch_at,
                )  # fmt: skip

        await self._run(write)

    # -- rules -------------------------------------------------------------

    async def rules(self, *, after: str | None = None, limit: int = 50, enabled_only: bool = False) -> list[Rule]:
        async def read(conn: Any) -> list[Rule]:
            rows = await conn.fetch(
                f"SELECT {RULE_COLUMNS} FROM monitor_rules WHERE id > $1 AND (enabled OR NOT $2) ORDER BY id LIMIT $3",
                after or "",
                enabled_only,
                limit,
            )
            return [rule_from_row(r) for r in rows]

        return await self._run(read)

    async def rule(self, rule_id: str) -> Rule | None:
        async def read(conn: Any) -> Rule | None:
            return await _rule(conn, rule_id)

        return await self._run(read)

    async def create_rule(self, rule: Rule, actor: Actor) -> Rule:
        values = rule_values(rule)
        marks = ", ".join(f"${i}" for i in range(1, len(values) + 1))

        async def txn(conn: Any) -> Rule:
            async with conn.transaction():
                await conn.execute(f"INSERT INTO monitor_rules ({RULE_COLUMNS}) VALUES ({marks})", *values)
                await _insert_audit(conn, [actor.audit("monitor", rule.created_at, rule.id, {"change": "rule.create"})])
                found = await _rule(conn, rule.id)
            assert found is not None
            return found

        return await self._run(txn)

    async def update_rule(self, rule: Rule, actor: Actor) -> Rule | None:
        fixed = ("id", "created_by", "created_at")
        pairs = [(c, v) for c, v in zip(RULE_COLUMNS.split(", "), rule_values(rule), strict=True) if c not in fixed]
        sets = ", ".join(f"{c} = ${i}" for i, (c, _) in enumerate(pairs, start=2))

        async def txn(conn: Any) -> Rule | None:
            async with conn.transaction():
                status = await conn.execute(f"UPDATE monitor_rules SET {sets} WHERE id = $1", rule.id,
                                            *(v for _, v in pairs))  # fmt: skip
                if status == "UPDATE 0":
                    return None
                await _insert_audit(conn, [actor.audit("monitor", rule.updated_at, rule.id, {"change": "rule.update"})])
                return await _rule(conn, rule.id)

        return await self._run(txn)

    async def delete_rule(self, rule_id: str, actor: Actor, now: float) -> bool:
        return await self._delete("monitor_rules", "rule.delete", rule_id, actor, now)

    async def unit_names(self) -> dict[str, str]:
        async def read(conn: Any) -> dict[str, str]:
            rows = await conn.fetch("SELECT code, name_zh FROM units WHERE kind <> 'city_outlet' ORDER BY code")
            return {str(r[0]): str(r[1]) for r in rows}

        return await self._run(read)

    # -- alerts ------------------------------------------------------------

    async def insert_alert(self, alert: NewAlert, near: Near, now: float) -> Result | None:
        async def txn(conn: Any) -> Result | None:
            async with conn.transaction():
                await conn.execute("SELECT pg_advisory_xact_lock($1, $2)", *ALERT_LOCK)
                if await conn.fetchval(
                    "SELECT 1 FROM monitor_alerts WHERE url_key = $1 OR text_key = $2", alert.url_key, alert.text_key
                ):
                    return None
                if alert.simhash is not None:
                    recent = await conn.fetch(
                        "SELECT simhash FROM monitor_alerts WHERE created_at >= $1 AND simhash IS NOT NULL "
                        "ORDER BY seq DESC LIMIT $2",
                        now - near.window,
                        NEAR_SCAN,
                    )
                    if any(hamming(int(r[0]), alert.simhash) <= near.distance for r in recent):
                        return None
                history = appended((), history_entry(now, None, "new", "", unit=alert.unit, routed_by=alert.routed_by))
                row = await conn.fetchrow(
                    "INSERT INTO monitor_alerts (id, url_key, text_key, simhash, title, summary, url, source, rules, "
                    "matched, severity, unit, routed_by, status, published_at, created_at, updated_at, history) "
                    "VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, 'new', $14, $15, $15, $16) "
                    f"ON CONFLICT DO NOTHING RETURNING {ALERT_COLUMNS}",
                    new_id("al"), alert.url_key, alert.text_key, alert.simhash, alert.title, alert.summary,
                    alert.url, alert.source, _json(list(alert.rules)), _json(list(alert.matched)), alert.severity,
                    alert.unit, alert.routed_by, alert.published_at, now, history,
                )  # fmt: skip
                if row is None:
                    return None
                stored = alert_from_row(row)
                return stored, await postgres_events.append_in(conn, alert_publications(stored, "alert.new"), now)

        return await self._run(txn)

    async def alerts(self, query: AlertQuery) -> list[Alert]:
        where: list[str] = ["true"]
        args: list[Any] = []
        for clause, value in (
            ("status = ${}", query.status),
            ("(unit = ${0} OR escalated_to = ${0})", query.unit),
            ("severity = ${}", query.severity),
            ("created_at > ${}", query.after),
            ("created_at < ${}", query.before),
            ("seq < ${}", query.below_seq),
        ):
            if value is not None:
                args.append(value)
                where.append(clause.format(len(args)))
        args.append(query.limit)
        sql = (
            f"SELECT {ALERT_COLUMNS} FROM monitor_alerts WHERE {' AND '.join(where)} "
            f"ORDER BY seq DESC LIMIT ${len(args)}"
        )

        async def read(conn: Any) -> list[Alert]:
            return [alert_from_row(r) for r in await conn.fetch(sql, *args)]

        return await self._run(read)

    async def alert(self, alert_id: str) -> Alert | None:
        async def read(conn: Any) -> Alert | None:
            return await _alert(conn, alert_id)

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

        async def txn(conn: Any) -> Result | None:
            async with conn.transaction():
                alert = await _alert(conn, alert_id, lock=True)
                if alert is None:
                    return None
                state = TRANSITIONS[alert.status].get(action)
                if state is None:
                    raise IllegalTransition(alert.status, action)
                entry = history_entry(now, actor.user, action, reason, **refs)
                topic, task = refs.get("topic", alert.topic), refs.get("task", alert.task)
                await conn.execute(
                    "UPDATE monitor_alerts SET status = $2, topic = $3, task = $4, updated_at = $5, history = $6 "
                    "WHERE id = $1",
                    alert_id, state, topic, task, now, appended(alert.history, entry),
                )  # fmt: skip
                updated = replace(alert, status=state, topic=topic, task=task, updated_at=now,
                                  history=(*alert.history, entry))  # fmt: skip
                extra = escalation_channels(alert.escalated_to) if alert.escalated_at is not None else []
                publications = alert_publications(updated, EVENT_OF[action], extra=extra)
                events = await postgres_events.append_in(conn, publications, now)
                detail = {"action": action, "from": alert.status, "to": state, "reason": reason, **refs}
                await _insert_audit(conn, [actor.audit("alert", now, alert_id, detail)])
                return updated, events

        return await self._run(txn)

    async def escalate(self, before: float, unit: str | None, now: float) -> list[Result]:
        async def txn(conn: Any) -> list[Result]:
            async with conn.transaction():
                rows = await conn.fetch(
                    f"SELECT {ALERT_COLUMNS} FROM monitor_alerts WHERE severity = 'high' AND status = 'new' "
                    "AND escalated_at IS NULL AND created_at <= $1 ORDER BY seq LIMIT 100 FOR UPDATE SKIP LOCKED",
                    before,
                )
                out = []
                for alert in map(alert_from_row, rows):
                    entry = history_entry(now, None, "escalate", "not acknowledged in time", to=unit)
                    await conn.execute(
                        "UPDATE monitor_alerts SET escalated_at = $2, escalated_to = $3, updated_at = $2, "
                        "history = $4 WHERE id = $1",
                        alert.id, now, unit, appended(alert.history, entry),
                    )  # fmt: skip
                    updated = replace(alert, escalated_at=now, escalated_to=unit, updated_at=now,
                                      history=(*alert.history, entry))  # fmt: skip
                    publications = alert_publications(updated, "alert.escalated", extra=escalation_channels(unit))
                    out.append((updated, await postgres_events.append_in(conn, publications, now)))
                    detail = {"action": "escalate", "to": unit}
                    await _insert_audit(conn, [Actor(None).audit("alert", now, alert.id, detail)])
                return out

        return await self._run(txn)


async def _source(conn: Any, source_id: str) -> Source | None:
    row = await conn.fetchrow(f"SELECT {SOURCE_COLUMNS} FROM monitor_sources WHERE id = $1", source_id)
    return source_from_row(row) if row is not None else None


async def _rule(conn: Any, rule_id: str) -> Rule | None:
    row = await conn.fetchrow(f"SELECT {RULE_COLUMNS} FROM monitor_rules WHERE id = $1", rule_id)
    return rule_from_row(row) if row is not None else None


async def _alert(conn: Any, alert_id: str, *, lock: bool = False) -> Alert | None:
    tail = " FOR UPDATE" if lock else ""
    row = await conn.fetchrow(f"SELECT {ALERT_COLUMNS} FROM monitor_alerts WHERE id = $1{tail}", alert_id)
    return alert_from_row(row) if row is not None else None


def _json(value: Any) -> str:
    return orjson.dumps(value).decode()
