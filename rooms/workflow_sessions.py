"""Planning sessions and their drafts: the operations, on any backend (``rooms.sql.Tx``).

A session is a directory room (``rooms``, ``room_members``) with a state, a
schedule and its creator; its drafts are rows of ``drafts``. Every change
stamps ``rooms.changed_at`` so the hubs re-read members and state.

A ``scheduled`` session with a ``starts_at`` opens by itself once that time
has come (``open_due_sessions``, run by the ``session-schedule`` job): the
same change as a planner's ``open``, with no actor and the reason
"scheduled start". ``ends_at`` closes nothing: a session that runs over its
planned end stays open until a planner closes it (closing makes its drafts
read-only, and a story that runs late must not be cut off mid-edit).

Events (``data``: ``{"session": <session JSON>, "actor", ...}``), on
``room:{id}`` and ``unit:{u}`` of each of the session's units (a removed
unit hears of its removal too): ``session.created``, ``session.updated``,
``session.invited`` (``units``), ``session.removed`` (``unit``),
``session.opened``, ``session.closed``, ``session.reopened``,
``session.archived`` (``reason``). Drafts (``data``: ``{"draft": <draft JSON>, "actor"}``)
on ``room:{session}`` and ``unit:{lead unit}`` (also the previous lead unit's
when it changes): ``draft.created``, ``draft.updated``.
"""

from __future__ import annotations

import dataclasses
import secrets
from collections.abc import Mapping, Sequence
from typing import Any

from rooms.names import valid_name
from rooms.review import Status, level_of
from rooms.sql import Row, Tx, marks
from rooms.workflow import (
    SESSION,
    SESSION_EDITABLE,
    Actor,
    Conflict,
    Draft,
    Forbidden,
    IllegalTransition,
    Invalid,
    NotFound,
    Page,
    PlanningSession,
)
from rooms.workflow_base import Change, Filters, Transactor, Where, decode_cursor, page_of, publications

__all__ = [
    "SessionOps",
    "check_units",
    "insert_draft",
    "read_session",
    "require_editable",
    "session_channels",
]

MAX_MEMBERS = 64
PAST_TENSE = {"open": "opened", "close": "closed", "reopen": "reopened", "archive": "archived"}
SCHEDULED_START = "scheduled start"  # the reason of an opening by the ``session-schedule`` job
_DUE = "status = 'scheduled' AND starts_at IS NOT NULL AND starts_at <= ?"  # sessions whose start has come

_SESSION = (
    "SELECT r.id, r.title, r.owner_unit, r.status, r.starts_at, r.ends_at, r.created_by, r.created_at, "
    "(SELECT count(*) FROM drafts d WHERE d.session = r.id) FROM rooms r"
)
# A draft with where its review stands (``rooms.review``; no review row: being edited).
_DRAFT = (
    "SELECT d.session, d.name, d.title, d.lead_unit, d.created_by, d.created_at, coalesce(r.status, 'editing') "
    "FROM drafts d LEFT JOIN draft_reviews r ON r.session = d.session AND r.name = d.name"
)


def _session(row: Row, members: frozenset[str]) -> PlanningSession:
    return PlanningSession(row[0], row[1], row[2], members, row[3], row[4], row[5], row[6], float(row[7]), int(row[8]))


def _draft(row: Row) -> Draft:
    review = {"status": row[6], "level": level_of(Status(row[6]))}
    return Draft(row[0], row[1], row[2], row[3], row[4], float(row[5]), review)


async def _members(tx: Tx, room_ids: Sequence[str]) -> dict[str, set[str]]:
    found: dict[str, set[str]] = {room_id: set() for room_id in room_ids}
    if room_ids:
        rows = await tx.rows(f"SELECT room, unit FROM room_members WHERE room IN ({marks(len(room_ids))})", *room_ids)
        for room_id, unit in rows:
            found[room_id].add(unit)
    return found


async def read_session(tx: Tx, session_id: str, *, lock: bool = False) -> PlanningSession | None:
    """The session (locked until commit with ``lock``), or None."""
    if lock and await tx.lock("SELECT id FROM rooms WHERE id = ?", session_id) is None:
        return None
    row = await tx.row(f"{_SESSION} WHERE r.id = ?", session_id)
    if row is None:
        return None
    members = await _members(tx, [session_id])
    return _session(row, frozenset(members[session_id]))


async def visible_session(tx: Tx, actor: Actor, session_id: str, *, lock: bool = False) -> PlanningSession:
    session = await read_session(tx, session_id, lock=lock)
    if session is None or not actor.may_see_session(session):
        raise NotFound("no such planning session, or your unit is not a member")
    return session


async def check_units(tx: Tx, field: str, units: Sequence[str]) -> None:
    """``Invalid(field)`` unless every unit exists."""
    wanted = sorted(set(units))
    if not wanted:
        return
    rows = await tx.rows(f"SELECT code FROM units WHERE code IN ({marks(len(wanted))})", *wanted)
    missing = set(wanted) - {r[0] for r in rows}
    if missing:
        raise Invalid(field, f"no such unit: {', '.join(sorted(missing))}")


def require_editable(session: PlanningSession, what: str) -> None:
    """Refuse changes inside a session that is closed or archived."""
    if session.status not in SESSION_EDITABLE:
        raise IllegalTransition(
            "session",
            session.status,
            what,
            SESSION.allowed(session.status),
            f"the planning session is {session.status}: {what} only while it is scheduled or open",
        )


def session_channels(session: PlanningSession, *extra_units: str) -> list[str]:
    return [f"room:{session.id}", *(f"unit:{u}" for u in (*session.units, *extra_units))]


def _check_schedule(starts_at: float | None, ends_at: float | None) -> None:
    if starts_at is not None and ends_at is not None and ends_at < starts_at:
        raise Invalid("ends_at", "must not be before starts_at")


async def insert_draft(
    tx: Tx, actor: Actor, session: PlanningSession, *, title: str, lead_unit: str, name: str | None
) -> Draft:
    """Add a draft to an editable session; publishes ``draft.created``."""
    require_editable(session, "add drafts")
    if not session.has_unit(lead_unit):
        raise Invalid("lead_unit", f"{lead_unit} is not a unit of this planning session")
    name = name if name is not None else f"d-{secrets.token_hex(4)}"
    if not valid_name(name):
        raise Invalid("name", "1-64 of A-Z a-z 0-9 _ -, starting with a letter or digit")
    if await tx.row("SELECT 1 FROM drafts WHERE session = ? AND name = ?", session.id, name) is not None:
        raise Conflict(f"the draft {session.id}/{name} exists already")
    await tx.execute(
        "INSERT INTO drafts (session, name, title, lead_unit, created_by, created_at) VALUES (?, ?, ?, ?, ?, ?)",
        session.id,
        name,
        title,
        lead_unit,
        actor.id,
        tx.now,
    )
    draft = Draft(session.id, name, title, lead_unit, actor.id, tx.now)
    tx.publish(_draft_events(session, draft, "draft.created", actor))
    return draft


def _draft_events(session: PlanningSession, draft: Draft, type: str, actor: Actor, *units: str) -> list[Any]:
    channels = [f"room:{session.id}", *(f"unit:{u}" for u in (draft.lead_unit, *units))]
    return publications(channels, type, {"draft": draft.to_json(), "actor": actor.id})


class SessionOps(Transactor):
    """Planning sessions and drafts (``rooms.workflow_store.WorkflowStore``)."""

    # -- reads -------------------------------------------------------------

    async def sessions(self, actor: Actor, filters: Filters) -> Page[PlanningSession]:
        where = Where()
        units = [] if actor.sees_all_sessions() else [actor.unit]
        if filters.unit is not None:
            units.append(filters.unit)
        for unit in units:
            where.add("(r.owner_unit = ? OR r.id IN (SELECT room FROM room_members WHERE unit = ?))", unit, unit)
        where.listed(filters, "r.")
        if filters.cursor is not None:
            created, last_id = decode_cursor(filters.cursor, (float, str))
            where.add("(r.created_at < ? OR (r.created_at = ? AND r.id < ?))", created, created, last_id)
        sql = f"{_SESSION} {where.sql} ORDER BY r.created_at DESC, r.id DESC"
        args = where.args

        async def read(tx: Tx) -> Page[PlanningSession]:
            rows = await tx.rows(f"{sql} LIMIT ?", *args, filters.limit + 1)
            members = await _members(tx, [r[0] for r in rows])
            items = [_session(r, frozenset(members[r[0]])) for r in rows]
            return page_of(items, filters.limit, lambda s: (s.created_at, s.id))

        return await self._read(read)

    async def session(self, actor: Actor, session_id: str) -> PlanningSession:
        return await self._read(lambda tx: visible_session(tx, actor, session_id))

    async def drafts(self, actor: Actor, session_id: str, filters: Filters) -> Page[Draft]:
        async def read(tx: Tx) -> Page[Draft]:
            await visible_session(tx, actor, session_id)
            where, args = "d.session = ?", [session_id]
            if filters.cursor is not None:
                created, name = decode_cursor(filters.cursor, (float, str))
                where += " AND (d.created_at > ? OR (d.created_at = ? AND d.name > ?))"
                args += [created, created, name]
            rows = await tx.rows(
                f"{_DRAFT} WHERE {where} ORDER BY d.created_at, d.name LIMIT ?", *args, filters.limit + 1
            )
            return page_of([_draft(r) for r in rows], filters.limit, lambda d: (d.created_at, d.name))

        return await self._read(read)

    async def draft(self, actor: Actor, session_id: str, name: str) -> Draft:
        async def read(tx: Tx) -> Draft:
            await visible_session(tx, actor, session_id)
            row = await tx.row(f"{_DRAFT} WHERE d.session = ? AND d.name = ?", session_id, name)
            if row is None:
                raise NotFound("no such draft")
            return _draft(row)

        return await self._read(read)

    # -- sessions ------------------------------------------------------------

    async def create_session(
        self,
        actor: Actor,
        *,
        title: str,
        member_units: Sequence[str],
        starts_at: float | None = None,
        ends_at: float | None = None,
        session_id: str | None = None,
    ) -> Change[PlanningSession]:
        if not actor.planner:
            raise Forbidden("editors, duty editors, chief editors and commanders create planning sessions")
        new_id = session_id if session_id is not None else f"s-{secrets.token_hex(5)}"
        if not valid_name(new_id):
            raise Invalid("id", "1-64 of A-Z a-z 0-9 _ -, starting with a letter or digit")
        members = sorted(set(member_units) - {actor.unit})
        if len(members) > MAX_MEMBERS:
            raise Invalid("member_units", f"at most {MAX_MEMBERS} units")
        _check_schedule(starts_at, ends_at)

        async def change(tx: Tx) -> PlanningSession:
            await check_units(tx, "member_units", members)
            if await tx.row("SELECT 1 FROM rooms WHERE id = ?", new_id) is not None:
                raise Conflict(f"the planning session {new_id} exists already")
            await tx.execute(
                "INSERT INTO rooms (id, title, owner_unit, status, starts_at, ends_at, created_by, created_at) "
                "VALUES (?, ?, ?, 'scheduled', ?, ?, ?, ?)",
                new_id,
                title,
                actor.unit,
                starts_at,
                ends_at,
                actor.id,
                tx.now,
            )
            for unit in members:
                await tx.execute("INSERT INTO room_members (room, unit) VALUES (?, ?)", new_id, unit)
            await tx.touch_room(new_id)
            return await self._session_changed(tx, actor, new_id, "session.created", {"action": "create"})

        return await self._transact(change)

    async def update_session(self, actor: Actor, session_id: str, patch: Mapping[str, Any]) -> Change[PlanningSession]:
        """``patch``: any of ``title``, ``starts_at``, ``ends_at`` (None clears a time)."""
        unknown = set(patch) - {"title", "starts_at", "ends_at"}
        if unknown:
            raise Invalid(sorted(unknown)[0], "not a field that can be changed")

        async def change(tx: Tx) -> PlanningSession:
            session = await self._managed(tx, actor, session_id)
            if session.status == "archived":
                raise IllegalTransition("session", "archived", "change", [], "an archived planning session is final")
            title = patch.get("title", session.title)
            starts_at = patch.get("starts_at", session.starts_at)  # a None in the patch clears it
            ends_at = patch.get("ends_at", session.ends_at)
            _check_schedule(starts_at, ends_at)
            await tx.execute(
                "UPDATE rooms SET title = ?, starts_at = ?, ends_at = ? WHERE id = ?",
                title,
                starts_at,
                ends_at,
                session_id,
            )
            await tx.touch_room(session_id)
            detail = {"action": "update", "fields": sorted(patch)}
            return await self._session_changed(tx, actor, session_id, "session.updated", detail)

        return await self._transact(change)

    async def invite(self, actor: Actor, session_id: str, units: Sequence[str]) -> Change[PlanningSession]:
        async def change(tx: Tx) -> PlanningSession:
            session = await self._managed(tx, actor, session_id)
            if session.status == "archived":
                raise IllegalTransition("session", "archived", "invite", [], "an archived planning session is final")
            new = sorted(set(units) - session.member_units - {session.owner_unit})
            await check_units(tx, "units", new)
            if len(session.member_units) + len(new) > MAX_MEMBERS:
                raise Invalid("units", f"a planning session has at most {MAX_MEMBERS} member units")
            if not new:
                return session  # every unit is a member already: nothing changes
            for unit in new:
                await tx.execute("INSERT INTO room_members (room, unit) VALUES (?, ?)", session_id, unit)
            await tx.touch_room(session_id)
            detail = {"action": "invite", "units": new}
            return await self._session_changed(tx, actor, session_id, "session.invited", detail, units=new)

        return await self._transact(change)

    async def remove_member(self, actor: Actor, session_id: str, unit: str) -> Change[PlanningSession]:
        async def change(tx: Tx) -> PlanningSession:
            session = await self._managed(tx, actor, session_id)
            if session.status == "archived":
                raise IllegalTransition("session", "archived", "remove", [], "an archived planning session is final")
            if unit == session.owner_unit:
                raise Invalid("unit", "the owner unit cannot be removed")
            if unit not in session.member_units:
                raise NotFound(f"{unit} is not a member unit of this planning session")
            led = await tx.row("SELECT name FROM drafts WHERE session = ? AND lead_unit = ?", session_id, unit)
            if led is not None:
                raise Conflict(f"{unit} leads the draft {session_id}/{led[0]}: give it another lead unit first")
            await tx.execute("DELETE FROM room_members WHERE room = ? AND unit = ?", session_id, unit)
            await tx.touch_room(session_id)
            detail = {"action": "remove", "unit": unit}
            return await self._session_changed(tx, actor, session_id, "session.removed", detail, unit=unit)

        return await self._transact(change)

    async def session_action(
        self, actor: Actor, session_id: str, action: str, *, reason: str = ""
    ) -> Change[PlanningSession]:
        """``open``, ``close``, ``reopen`` or ``archive`` (``rooms.workflow.SESSION``)."""
        if action not in SESSION.actions:
            raise Invalid("action", f"one of {', '.join(SESSION.actions)}")

        async def change(tx: Tx) -> PlanningSession:
            session = await self._managed(tx, actor, session_id)
            target = SESSION.next(session.status, action)
            await tx.execute("UPDATE rooms SET status = ? WHERE id = ?", target, session_id)
            await tx.touch_room(session_id)
            detail = {"action": action, "from": session.status, "to": target, "reason": reason}
            type = f"session.{PAST_TENSE[action]}"
            return await self._session_changed(tx, actor, session_id, type, detail, reason=reason)

        return await self._transact(change)

    async def _managed(self, tx: Tx, actor: Actor, session_id: str) -> PlanningSession:
        session = await visible_session(tx, actor, session_id, lock=True)
        if not actor.may_manage_session(session):
            raise Forbidden("planners of the owner unit and commanders manage a planning session")
        return session

    async def open_due_sessions(self, now: float, *, limit: int = 100) -> Change[list[PlanningSession]]:
        """Open, once each, ``scheduled`` sessions whose ``starts_at`` is at or before ``now``."""

        async def change(tx: Tx) -> list[PlanningSession]:
            due = await tx.rows(f"SELECT id FROM rooms WHERE {_DUE} ORDER BY starts_at, id LIMIT ?", now, limit)
            opened = []
            for (session_id,) in due:
                # Conditional: a concurrent tick, or a planner's own ``open``, may have opened it meanwhile.
                if not await tx.execute(f"UPDATE rooms SET status = 'open' WHERE id = ? AND {_DUE}", session_id, now):
                    continue
                await tx.touch_room(session_id)
                detail = {"action": "open", "from": "scheduled", "to": "open", "reason": SCHEDULED_START}
                opened.append(
                    await self._session_changed(tx, None, session_id, "session.opened", detail, reason=SCHEDULED_START)
                )
            return opened

        return await self._transact(change)

    async def _session_changed(
        self, tx: Tx, actor: Actor | None, session_id: str, type: str, detail: Mapping[str, Any], **data: Any
    ) -> PlanningSession:
        """Read the session back; queue its event and audit row (``actor`` None: a job did it)."""
        session = await read_session(tx, session_id)
        assert session is not None, "changed inside this transaction"
        removed = [data["unit"]] if "unit" in data else []
        payload = {"session": session.to_json(), "actor": None if actor is None else actor.id, **data}
        tx.publish(publications(session_channels(session, *removed), type, payload))
        self._audit(tx, actor, "session", session_id, detail)
        return session

    # -- drafts ------------------------------------------------------------------

    async def create_draft(
        self, actor: Actor, session_id: str, *, title: str, lead_unit: str, name: str | None = None
    ) -> Change[Draft]:
        async def change(tx: Tx) -> Draft:
            session = await visible_session(tx, actor, session_id, lock=True)
            if not actor.may_create_draft(session):
                raise Forbidden("writers of the session's units and commanders add drafts")
            draft = await insert_draft(tx, actor, session, title=title, lead_unit=lead_unit, name=name)
            self._audit(tx, actor, "draft", draft.path, {"action": "create", "lead_unit": lead_unit})
            return draft

        return await self._transact(change)

    async def update_draft(self, actor: Actor, session_id: str, name: str, patch: Mapping[str, Any]) -> Change[Draft]:
        """``patch``: any of ``title``, ``lead_unit``."""
        unknown = set(patch) - {"title", "lead_unit"}
        if unknown:
            raise Invalid(sorted(unknown)[0], "not a field that can be changed")

        async def change(tx: Tx) -> Draft:
            session = await visible_session(tx, actor, session_id, lock=True)
            row = await tx.row(f"{_DRAFT} WHERE d.session = ? AND d.name = ?", session_id, name)
            if row is None:
                raise NotFound("no such draft")
            draft = _draft(row)
            if not actor.may_change_draft(session, draft):
                raise Forbidden("planners of the owner or lead unit and commanders change a draft")
            require_editable(session, "change drafts")
            title = patch.get("title", draft.title)
            lead_unit = patch.get("lead_unit", draft.lead_unit)
            if not session.has_unit(lead_unit):
                raise Invalid("lead_unit", f"{lead_unit} is not a unit of this planning session")
            await tx.execute(
                "UPDATE drafts SET title = ?, lead_unit = ? WHERE session = ? AND name = ?",
                title,
                lead_unit,
                session_id,
                name,
            )
            updated = dataclasses.replace(draft, title=title, lead_unit=lead_unit)
            tx.publish(_draft_events(session, updated, "draft.updated", actor, draft.lead_unit))
            self._audit(tx, actor, "draft", updated.path, {"action": "update", "fields": sorted(patch)})
            return updated

        return await self._transact(change)
