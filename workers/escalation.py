"""``dispatch-escalation``: receipts not acknowledged by their task's deadline go up, once.

Each tick escalates the overdue receipts of open tasks (delivered or read,
never escalated) to the unit on duty and to every commander
(``WorkflowStore.escalate_overdue``: the receipt records when and to whom,
with an audit row and a ``task.escalated`` event in the same transaction),
then announces the events. A receipt is escalated once however many
instances tick: the store claims each one conditionally.
"""

from __future__ import annotations

from rooms.events import Publisher
from rooms.workflow_store import WorkflowStore

__all__ = ["DispatchEscalation"]


class DispatchEscalation:
    """A ``workers.runtime.Job``."""

    name = "dispatch-escalation"

    def __init__(self, store: WorkflowStore, publisher: Publisher, *, interval: float = 5.0, batch: int = 100) -> None:
        self.store = store
        self.publisher = publisher
        self.interval = interval
        self.batch = batch

    async def tick(self, now: float) -> int:
        """Escalate up to ``batch`` overdue receipts; return how many."""
        change = await self.store.escalate_overdue(now, limit=self.batch)
        if change.events:
            self.publisher.announce(change.events)
        return len(change.value)
