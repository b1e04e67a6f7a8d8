"""Topic reports (报题): the operations, on any backend (``rooms.sql.Tx``).

A unit submits a topic; the desk approves it (which creates its draft in a
planning session), returns it for changes, merges it into another topic or
rejects it; a returned topic is resubmitted with edits or withdrawn. Every
step is kept in ``topic_history``.

Events ``topic.submitted``, ``topic.approved``, ``topic.returned``,
``topic.merged``, ``topic.rejected``, ``topic.resubmitted``,
``topic.withdrawn`` (``data``: ``{"topic": <topic JSON>, "actor", "action",
"reason"}``) on ``unit:{topic unit}`` and ``duty``. An approval also
publishes the new draft's ``draft.created``.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Mapping, Sequence
from typing import Any

import orjson

from rooms.sql import Row, Tx
from rooms.workflow import TOPIC, Actor, Forbidden, Invalid, NotFound, Page, Topic, TopicStep
from rooms.workflow_base import Change, Filters, Transactor, Where, page_of, publications
from rooms.workflow_duty import on_duty
from rooms.workflow_sessions import insert_draft, read_session

__all__ = ["DESK_ACTIONS", "EDITABLE_FIELDS", "TopicOps", "check_date"]

DESK_ACTIONS = frozenset({"approve", "return", "merge", "reject"})
NEEDS_REASON = frozenset({"return", "merge", "reject"})
EDITABLE_FIELDS = frozenset({"title", "angle", "proposed_date", "platforms", "links"})
PAST_TENSE = {
    "submit": "submitted",
    "approve": "approved",
    "return": "returned",
    "merge": "merged",
    "reject": "rejected",
    "resubmit": "resubmitted",
    "withdraw": "withdrawn",
}

_TOPIC = (
    "SELECT id, unit, title, angle, proposed_date, platforms, links, status, session, draft, merged_into, "
    "created_by, created_at, updated_at FROM topics"
)


def check_date(field: str, text: str) -> str:
    """``text`` if it is a calendar date ``YYYY-MM-DD``; ``Invalid(field)`` if not."""
    try:
        if len(text) == 10 and dt.date.fromisoformat(text).isoformat() == text:
            return text
    except ValueError:
        pass
    raise Invalid(field, "a date as YYYY-MM-DD")


def _column(field: str, value: Any) -> object:
    """A topic field as its column holds it (lists are JSON text)."""
    return orjson.dumps(list(value)).decode() if field in ("platforms", "links") else value


def _topic(row: Row, history: list[TopicStep] | None = None) -> Topic:
    return Topic(
        int(row[0]),
        row[1],
        row[2],
        row[3],
        row[4],
        orjson.loads(row[5]),
        orjson.loads(row[6]),
        row[7],
        row[8],
        row[9],
        None if row[10] is None else int(row[10]),
        row[11],
        float(row[12]),
        float(row[13]),
        history,
    )


async def _read_topic(tx: Tx, topic_id: int, *, lock: bool = False) -> Topic | None:
    if lock and await tx.lock("SELECT id FROM topics WHERE id = ?", topic_id) is None:
        return None
    row = await tx.row(f"{_TOPIC} WHERE id = ?", topic_id)
    return None if row is None else _topic(row)


class TopicOps(Transactor):
    """Topic reports (``rooms.workflow_store.WorkflowStore``)."""

    async def topics(self, actor: Actor, filters: Filters) -> Page[Topic]:
        async def read(tx: Tx) -> Page[Topic]:
            where = Where()
            if not actor.is_desk(await on_duty(tx, tx.now)):
                where.add("unit = ?", actor.unit)
            if filters.unit is not None:
                where.add("unit = ?", filters.unit)
            where.listed(filters)
            where.before_id(filters)
            rows = await tx.rows(f"{_TOPIC} {where.sql} ORDER BY id DESC LIMIT ?", *where.args, filters.limit + 1)
            return page_of([_topic(r) for r in rows], filters.limit, lambda t: (t.id,))

        return await self._read(read)

    async def topic(self, actor: Actor, topic_id: int) -> Topic:
        """The topic with its ``history``."""

        async def read(tx: Tx) -> Topic:
            topic = await _read_topic(tx, topic_id)
            if topic is None or not actor.may_see_topic(topic, await on_duty(tx, tx.now)):
                raise NotFound("no such topic")
            rows = await tx.rows(
                "SELECT at, actor, action, reason FROM topic_history WHERE topic = ? ORDER BY id", topic_id
            )
            history = [TopicStep(float(r[0]), r[1], r[2], r[3]) for r in rows]
            return dataclasses.replace(topic, history=history)

        return await self._read(read)

    async def submit_topic(
        self,
        actor: Actor,
        *,
        title: str,
        angle: str,
        proposed_date: str,
        platforms: Sequence[str],
        links: Sequence[str],
    ) -> Change[Topic]:
        if not actor.writer:
            raise Forbidden("reporters, editors and the other writing roles submit topics")
        check_date("proposed_date", proposed_date)

        async def change(tx: Tx) -> Topic:
            row = await tx.row(
                "INSERT INTO topics (unit, title, angle, proposed_date, platforms, links, status, created_by, "
                "created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, 'submitted', ?, ?, ?) RETURNING id",
                actor.unit,
                title,
                angle,
                proposed_date,
                orjson.dumps(list(platforms)).decode(),
                orjson.dumps(list(links)).decode(),
                actor.id,
                tx.now,
                tx.now,
            )
            assert row is not None, "INSERT ... RETURNING returns its row"
            topic = await _read_topic(tx, int(row[0]))
            assert topic is not None
            await self._record(tx, actor, topic, "submit", None, "")
            return topic

        return await self._transact(change)

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
        if action not in TOPIC.actions:
            raise Invalid("action", f"one of {', '.join(TOPIC.actions)}")
        if action in NEEDS_REASON and not reason.strip():
            raise Invalid("reason", f"say why you {action} the topic")
        edits = dict(edits or {})
        if set(edits) - EDITABLE_FIELDS:
            raise Invalid(sorted(set(edits) - EDITABLE_FIELDS)[0], "not a field of a topic that can be edited")
        if "proposed_date" in edits:
            check_date("proposed_date", edits["proposed_date"])

        async def change(tx: Tx) -> Topic:
            if action == "merge" and into is not None:
                for locked in sorted({topic_id, into}):  # in id order: two merges never deadlock
                    await tx.lock("SELECT id FROM topics WHERE id = ?", locked)
            topic = await _read_topic(tx, topic_id, lock=True)
            on = await on_duty(tx, tx.now)
            if topic is None or not actor.may_see_topic(topic, on):
                raise NotFound("no such topic")
            if action in DESK_ACTIONS and not actor.is_desk(on):
                raise Forbidden("the desk (commanders, chief editors, city outlet editors, the duty unit) decides")
            if action not in DESK_ACTIONS and not (actor.writer and actor.unit == topic.unit):
                raise Forbidden("writers of the topic's unit resubmit or withdraw it")
            target = TOPIC.next(topic.status, action)
            sets: dict[str, object] = {"status": target, "updated_at": tx.now}
            if action == "approve":
                sets |= await self._approve(tx, actor, topic, session, draft_title)
            elif action == "merge":
                sets["merged_into"] = await self._merge_target(tx, topic, into)
            elif action == "resubmit":
                sets |= {k: _column(k, v) for k, v in edits.items()}
            assignments = ", ".join(f"{column} = ?" for column in sets)
            await tx.execute(f"UPDATE topics SET {assignments} WHERE id = ?", *sets.values(), topic_id)
            updated = await _read_topic(tx, topic_id)
            assert updated is not None
            await self._record(tx, actor, updated, action, topic.status, reason)
            return updated

        return await self._transact(change)

    async def _approve(
        self, tx: Tx, actor: Actor, topic: Topic, session_id: str | None, draft_title: str | None
    ) -> dict[str, object]:
        if session_id is None:
            raise Invalid("session", "name the planning session the topic's draft goes to")
        session = await read_session(tx, session_id, lock=True)
        if session is None:
            raise Invalid("session", "no such planning session")
        if not session.has_unit(topic.unit):
            raise Invalid("session", f"{topic.unit} is not a unit of {session_id}: invite it first")
        title = draft_title if draft_title else topic.title
        draft = await insert_draft(tx, actor, session, title=title, lead_unit=topic.unit, name=None)
        self._audit(tx, actor, "draft", draft.path, {"action": "create", "lead_unit": topic.unit, "topic": topic.id})
        return {"session": session.id, "draft": draft.name}

    async def _merge_target(self, tx: Tx, topic: Topic, into: int | None) -> int:
        if into is None:
            raise Invalid("into", "name the topic to merge into")
        target = await _read_topic(tx, into)
        if target is None or target.id == topic.id or target.status not in ("submitted", "approved"):
            raise Invalid("into", "another topic that is submitted or approved")
        return target.id

    async def _record(self, tx: Tx, actor: Actor, topic: Topic, action: str, before: str | None, reason: str) -> None:
        """History row, event and audit row of one step."""
        await tx.execute(
            "INSERT INTO topic_history (topic, at, actor, action, from_status, to_status, reason) "
            "VALUES (?, ?, ?, ?, ?, ?, ?)",
            topic.id,
            tx.now,
            actor.id,
            action,
            before,
            topic.status,
            reason,
        )
        data = {"topic": topic.to_json(), "actor": actor.id, "action": action, "reason": reason}
        tx.publish(publications([f"unit:{topic.unit}", "duty"], f"topic.{PAST_TENSE[action]}", data))
        detail = {"action": action, "from": before, "to": topic.status, "reason": reason}
        self._audit(tx, actor, "topic", f"topic/{topic.id}", detail)
