"""Dispatch (派单): tasks and their receipts, the operations, on any backend (``rooms.sql.Tx``).

A task goes to recipients, units or users, each with a receipt that the
recipient reads, acknowledges, then accepts or declines. The assigner (or a
commander) reassigns a receipt to another recipient, cancels the task or
completes it. A receipt still unacknowledged at the task's deadline is
escalated once (``escalate_overdue``, run by the ``dispatch-escalation``
worker).

Events (``data``: ``{"task": <task JSON with receipts>, "actor", ...}``):
- ``task.assigned`` on each new recipient's ``unit:``/``user:`` channel;
- ``task.created`` on ``user:{assigner}``, so the assigner's other tabs and devices list the new task;
- ``receipt.updated`` (``receipt``, ``action``) on ``user:{assigner}`` and the recipient's channel;
- ``task.reassigned`` (``receipt``: the old one, ``to``: the new one), ``task.cancelled``,
  ``task.completed`` on ``user:{assigner}`` and every recipient's channel;
- ``task.escalated`` (``receipt``, ``on_duty``) on ``unit:{unit on duty}``, ``duty``,
  ``user:{assigner}`` and ``user:{c}`` of each commander.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from rooms.sql import Row, Tx, marks
from rooms.workflow import (
    PRIORITIES,
    RECEIPT,
    TASK,
    Actor,
    Forbidden,
    IllegalTransition,
    Invalid,
    NotFound,
    Page,
    Receipt,
    Task,
)
from rooms.workflow_base import Change, Filters, Recipient, Transactor, Where, page_of, publications
from rooms.workflow_duty import on_duty
from rooms.workflow_sessions import check_units, read_session

__all__ = ["BOXES", "MAX_RECIPIENTS", "RECEIPT_ACTIONS", "TaskOps"]

MAX_RECIPIENTS = 50
BOXES = ("inbox", "sent", "all")
RECEIPT_ACTIONS = ("read", "acknowledge", "accept", "decline")
PAST_TENSE = {"reassign": "reassigned", "cancel": "cancelled", "complete": "completed"}

_TASK = (
    "SELECT id, title, body, priority, deadline_at, status, session, assigner, assigner_unit, reason, "
    "created_at, updated_at FROM tasks"
)
_RECEIPT = (
    "SELECT id, task, recipient_unit, recipient_user, status, reason, delivered_at, read_at, acknowledged_at, "
    "decided_at, escalated_at, escalated_to FROM receipts"
)
_STAMPS = {  # what an answer sets, besides the status
    "read": "read_at = ?",
    "acknowledge": "read_at = coalesce(read_at, ?), acknowledged_at = ?",
    "accept": "read_at = coalesce(read_at, ?), acknowledged_at = coalesce(acknowledged_at, ?), decided_at = ?",
    "decline": "read_at = coalesce(read_at, ?), acknowledged_at = coalesce(acknowledged_at, ?), decided_at = ?",
}


def _opt(value: Any) -> float | None:
    return None if value is None else float(value)


def _receipt(row: Row) -> Receipt:
    return Receipt(
        int(row[0]),
        int(row[1]),
        row[2],
        row[3],
        row[4],
        row[5],
        float(row[6]),
        _opt(row[7]),
        _opt(row[8]),
        _opt(row[9]),
        _opt(row[10]),
        row[11],
    )


async def _with_receipts(tx: Tx, rows: Sequence[Row]) -> list[Task]:
    ids = [int(r[0]) for r in rows]
    receipts: dict[int, list[Receipt]] = {task_id: [] for task_id in ids}
    if ids:
        for r in await tx.rows(f"{_RECEIPT} WHERE task IN ({marks(len(ids))}) ORDER BY id", *ids):
            receipts[int(r[1])].append(_receipt(r))
    return [
        Task(
            int(r[0]), r[1], r[2], r[3], float(r[4]), r[5], r[6], r[7], r[8], r[9], float(r[10]), float(r[11]),
            receipts[int(r[0])],
        )
        for r in rows
    ]  # fmt: skip


async def _read_task(tx: Tx, task_id: int, *, lock: bool = False) -> Task | None:
    if lock and await tx.lock("SELECT id FROM tasks WHERE id = ?", task_id) is None:
        return None
    row = await tx.row(f"{_TASK} WHERE id = ?", task_id)
    return None if row is None else (await _with_receipts(tx, [row]))[0]


async def _check_recipients(tx: Tx, field: str, recipients: Sequence[Recipient]) -> None:
    await check_units(tx, field, [r.id for r in recipients if r.kind == "unit"])
    users = sorted({r.id for r in recipients if r.kind == "user"})
    if users:
        rows = await tx.rows(f"SELECT id FROM users WHERE id IN ({marks(len(users))}) AND NOT disabled", *users)
        missing = set(users) - {r[0] for r in rows}
        if missing:
            raise Invalid(field, f"no such user: {', '.join(sorted(missing))}")


async def _deliver(tx: Tx, task_id: int, recipient: Recipient) -> None:
    unit, user = (recipient.id, None) if recipient.kind == "unit" else (None, recipient.id)
    await tx.execute(
        "INSERT INTO receipts (task, recipient_unit, recipient_user, status, delivered_at) "
        "VALUES (?, ?, ?, 'delivered', ?)",
        task_id,
        unit,
        user,
        tx.now,
    )


def _recipient_channel(recipient: Recipient) -> str:
    return f"{recipient.kind}:{recipient.id}"


class TaskOps(Transactor):
    """Dispatch (``rooms.workflow_store.WorkflowStore``)."""

    async def tasks(self, actor: Actor, box: str, filters: Filters) -> Page[Task]:
        """``box``: ``inbox`` (tasks with a receipt for the actor or their unit), ``sent`` or ``all``."""
        if box not in BOXES:
            raise Invalid("box", f"one of {', '.join(BOXES)}")
        if box == "all" and not actor.commander:
            raise Forbidden("box=all is for commanders")
        where = Where()
        if box == "inbox":
            where.add(
                "id IN (SELECT task FROM receipts WHERE status <> 'reassigned' "
                "AND (recipient_user = ? OR recipient_unit = ?))",
                actor.id,
                actor.unit,
            )
        elif box == "sent":
            where.add("assigner = ?", actor.id)
        if filters.unit is not None:
            where.add("id IN (SELECT task FROM receipts WHERE recipient_unit = ?)", filters.unit)
        where.listed(filters)
        where.before_id(filters)

        async def read(tx: Tx) -> Page[Task]:
            rows = await tx.rows(f"{_TASK} {where.sql} ORDER BY id DESC LIMIT ?", *where.args, filters.limit + 1)
            return page_of(await _with_receipts(tx, rows), filters.limit, lambda t: (t.id,))

        return await self._read(read)

    async def task(self, actor: Actor, task_id: int) -> Task:
        async def read(tx: Tx) -> Task:
            task = await _read_task(tx, task_id)
            if task is None or not actor.may_see_task(task):
                raise NotFound("no such task")
            return task

        return await self._read(read)

    async def create_task(
        self,
        actor: Actor,
        *,
        title: str,
        body: str,
        priority: str,
        deadline_at: float,
        recipients: Sequence[Recipient],
        session: str | None = None,
    ) -> Change[Task]:
        if priority not in PRIORITIES:
            raise Invalid("priority", f"one of {', '.join(PRIORITIES)}")
        if not 1 <= len(recipients) <= MAX_RECIPIENTS:
            raise Invalid("recipients", f"1 to {MAX_RECIPIENTS} recipients")
        if len(set(recipients)) != len(recipients):
            raise Invalid("recipients", "a recipient is named twice")

        async def change(tx: Tx) -> Task:
            planning = None if session is None else await read_session(tx, session)
            if session is not None and planning is None:
                raise Invalid("session", "no such planning session")
            if not actor.may_dispatch(planning):
                raise Forbidden("commanders, and planners of the session's owner unit, dispatch tasks")
            await _check_recipients(tx, "recipients", recipients)
            row = await tx.row(
                "INSERT INTO tasks (title, body, priority, deadline_at, status, session, assigner, assigner_unit, "
                "created_at, updated_at) VALUES (?, ?, ?, ?, 'open', ?, ?, ?, ?, ?) RETURNING id",
                title,
                body,
                priority,
                deadline_at,
                session,
                actor.id,
                actor.unit,
                tx.now,
                tx.now,
            )
            assert row is not None, "INSERT ... RETURNING returns its row"
            task_id = int(row[0])
            for recipient in recipients:
                await _deliver(tx, task_id, recipient)
            task = await _read_task(tx, task_id)
            assert task is not None
            data = {"task": task.to_json(), "actor": actor.id}
            tx.publish(publications([f"user:{actor.id}"], "task.created", data))
            tx.publish(publications([_recipient_channel(r) for r in recipients], "task.assigned", data))
            detail = {"action": "create", "recipients": [r.id for r in recipients], "priority": priority}
            self._audit(tx, actor, "task", f"task/{task_id}", detail)
            return task

        return await self._transact(change)

    async def task_action(
        self,
        actor: Actor,
        task_id: int,
        action: str,
        *,
        reason: str = "",
        receipt: int | None = None,
        to: Recipient | None = None,
    ) -> Change[Task]:
        """``reassign`` (``receipt``, ``to``, ``reason``), ``cancel`` (``reason``), ``complete``."""
        if action not in TASK.actions:
            raise Invalid("action", f"one of {', '.join(TASK.actions)}")
        if action in ("cancel", "reassign") and not reason.strip():
            raise Invalid("reason", f"say why you {action}")

        async def change(tx: Tx) -> Task:
            task = await _read_task(tx, task_id, lock=True)
            if task is None or not actor.may_see_task(task):
                raise NotFound("no such task")
            if not actor.may_direct(task):
                raise Forbidden("the assigner and commanders reassign, cancel or complete a task")
            target = TASK.next(task.status, action)
            data: dict[str, object] = {"actor": actor.id, "reason": reason}
            detail: dict[str, object] = {"action": action, "from": task.status, "to": target, "reason": reason}
            channels = [f"user:{task.assigner}", *(r.channel for r in task.active)]
            if action == "reassign":
                old, new = await self._reassign(tx, task, receipt, to, reason)
                channels.append(_recipient_channel(new))
                data |= {"receipt": old, "to": {new.kind: new.id}}
                detail |= {"receipt": old, "to": new.id}
            await tx.execute(
                "UPDATE tasks SET status = ?, reason = ?, updated_at = ? WHERE id = ?",
                target,
                reason if action == "cancel" else task.reason,
                tx.now,
                task_id,
            )
            updated = await _read_task(tx, task_id)
            assert updated is not None
            data["task"] = updated.to_json()
            if action == "reassign":
                new_channel = [_recipient_channel(new)]
                tx.publish(publications(new_channel, "task.assigned", {"task": data["task"], "actor": actor.id}))
            tx.publish(publications(channels, f"task.{PAST_TENSE[action]}", data))
            self._audit(tx, actor, "task", f"task/{task_id}", detail)
            return updated

        return await self._transact(change)

    async def _reassign(
        self, tx: Tx, task: Task, receipt_id: int | None, to: Recipient | None, reason: str
    ) -> tuple[str, Recipient]:
        """Hand a receipt to another recipient; return the old receipt's id and the new recipient."""
        if receipt_id is None:
            raise Invalid("receipt", "name the receipt to reassign")
        old = task.receipt(receipt_id)
        if old is None:
            raise Invalid("receipt", "not a receipt of this task")
        if to is None:
            raise Invalid("to", 'name the new recipient: {"unit": CODE} or {"user": ID}')
        if any(r.recipient == {to.kind: to.id} for r in task.active):
            raise Invalid("to", "is a recipient of this task already")
        RECEIPT.next(old.status, "reassign")
        await _check_recipients(tx, "to", [to])
        await tx.execute("UPDATE receipts SET status = 'reassigned', reason = ? WHERE id = ?", reason, old.id)
        await _deliver(tx, task.id, to)
        return str(old.id), to

    async def receipt_action(
        self, actor: Actor, task_id: int, receipt_id: int, action: str, *, reason: str = ""
    ) -> Change[Task]:
        """``read``, ``acknowledge``, ``accept``, ``decline`` (``reason`` required)."""
        if action not in RECEIPT_ACTIONS:
            raise Invalid("action", f"one of {', '.join(RECEIPT_ACTIONS)}")
        if action == "decline" and not reason.strip():
            raise Invalid("reason", "say why you decline")

        async def change(tx: Tx) -> Task:
            task = await _read_task(tx, task_id, lock=True)
            receipt = None if task is None else task.receipt(receipt_id)
            if task is None or receipt is None or not actor.may_see_task(task):
                raise NotFound("no such receipt")
            if not actor.may_answer(receipt, action):
                raise Forbidden("only the recipient answers a receipt")
            if task.status != "open":
                raise IllegalTransition("receipt", receipt.status, action, [], f"the task is {task.status}")
            target = RECEIPT.next(receipt.status, action)
            stamps = _STAMPS[action]
            decided = action in ("accept", "decline")
            await tx.execute(
                f"UPDATE receipts SET status = ?, {stamps}{', reason = ?' if decided else ''} WHERE id = ?",
                target,
                *([tx.now] * stamps.count("?")),
                *([reason] if decided else []),
                receipt_id,
            )
            updated = await _read_task(tx, task_id)
            assert updated is not None
            now_receipt = updated.receipt(receipt_id)
            assert now_receipt is not None
            data = {"task": updated.to_json(), "receipt": now_receipt.to_json(), "actor": actor.id, "action": action}
            tx.publish(publications([f"user:{task.assigner}", receipt.channel], "receipt.updated", data))
            detail = {"action": action, "from": receipt.status, "to": target, "reason": reason}
            self._audit(tx, actor, "receipt", f"task/{task_id}/receipt/{receipt_id}", detail)
            return updated

        return await self._transact(change)

    async def escalate_overdue(self, now: float, *, limit: int = 100) -> Change[list[Receipt]]:
        """Escalate, once each, receipts of open tasks past their deadline and not yet acknowledged."""

        async def change(tx: Tx) -> list[Receipt]:
            due = await tx.rows(
                "SELECT r.id, r.task FROM receipts r JOIN tasks t ON t.id = r.task WHERE t.status = 'open' "
                "AND r.status IN ('delivered', 'read') AND r.escalated_at IS NULL AND t.deadline_at <= ? "
                "ORDER BY r.id LIMIT ?",
                now,
                limit,
            )
            if not due:
                return []
            unit = await on_duty(tx, now)
            commanders = [
                r[0]
                for r in await tx.rows(
                    "SELECT id FROM users WHERE (' ' || roles || ' ') LIKE '% commander %' AND NOT disabled ORDER BY id"
                )
            ]
            escalated = []
            for receipt_id, task_id in due:
                claimed = await tx.execute(
                    "UPDATE receipts SET escalated_at = ?, escalated_to = ? WHERE id = ? AND escalated_at IS NULL",
                    now,
                    unit,
                    receipt_id,
                )
                if not claimed:
                    continue  # another node escalated it meanwhile
                task = await _read_task(tx, int(task_id))
                assert task is not None
                receipt = task.receipt(int(receipt_id))
                assert receipt is not None
                escalated.append(receipt)
                channels = [
                    *([f"unit:{unit}"] if unit else []),
                    "duty",
                    f"user:{task.assigner}",
                    *(f"user:{c}" for c in commanders),
                ]
                data = {"task": task.to_json(), "receipt": receipt.to_json(), "on_duty": unit, "actor": None}
                tx.publish(publications(channels, "task.escalated", data))
                detail = {"action": "escalate", "on_duty": unit, "commanders": commanders}
                self._audit(tx, None, "receipt", f"task/{task.id}/receipt/{receipt.id}", detail)
            return escalated

        return await self._transact(change)
