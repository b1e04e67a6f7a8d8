"""The planning workflow's background jobs: each tick is one store change, then its events are announced.

- ``dispatch-escalation``: receipts not acknowledged by their task's deadline
  go up once, to the unit on duty and every commander
  (``WorkflowStore.escalate_overdue``: the receipt records when and to whom,
  with an audit row and a ``task.escalated`` event).
- ``duty-rotation``: each change of the unit on duty is handed over once
  (``WorkflowStore.hand_over``: a ``duty_handovers`` row, an audit row and a
  ``duty.handover`` event on ``city``, ``duty`` and both units' channels;
  slots missed while no instance ran are recorded without events).
- ``session-schedule``: a ``scheduled`` planning session opens when its
  ``starts_at`` comes (``WorkflowStore.open_due_sessions``: the state, an
  audit row with no actor and the reason "scheduled start", and
  ``session.opened``). Nothing closes at ``ends_at`` (``docs/WORKFLOW.md``).

Each change commits its rows, audit rows and events in one transaction.
Concurrent ticks on several instances (a lease handing over mid-tick) do
each thing once: escalations and openings are conditional updates, and a
handover locks the rotation row while it decides.
"""

from __future__ import annotations

from typing import Any

from rooms.events import Publisher
from rooms.workflow_store import Change, WorkflowStore

__all__ = ["DispatchEscalation", "DutyRotation", "SessionSchedule", "WorkflowJob"]


class WorkflowJob:
    """A ``workers.runtime.Job`` whose tick is one workflow store change (``change``)."""

    name: str

    def __init__(self, store: WorkflowStore, publisher: Publisher, *, interval: float = 5.0, batch: int = 100) -> None:
        self.store = store
        self.publisher = publisher
        self.interval = interval
        self.batch = batch  # the most things one tick does

    async def change(self, now: float) -> Change[Any]:
        raise NotImplementedError

    @staticmethod
    def count(value: Any) -> int:
        """How many things a change did: its list's length."""
        return len(value)

    async def tick(self, now: float) -> int:
        """Make the change, announce its committed events; return how many things it did."""
        change = await self.change(now)
        if change.events:
            self.publisher.announce(change.events)
        return self.count(change.value)


class DispatchEscalation(WorkflowJob):
    name = "dispatch-escalation"

    async def change(self, now: float) -> Change[Any]:
        return await self.store.escalate_overdue(now, limit=self.batch)


class DutyRotation(WorkflowJob):
    name = "duty-rotation"

    async def change(self, now: float) -> Change[Any]:
        return await self.store.hand_over(now)

    @staticmethod
    def count(value: Any) -> int:
        return 0 if value is None else 1


class SessionSchedule(WorkflowJob):
    name = "session-schedule"

    async def change(self, now: float) -> Change[Any]:
        return await self.store.open_due_sessions(now, limit=self.batch)
