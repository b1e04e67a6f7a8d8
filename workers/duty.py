"""``duty-rotation``: announce each change of the unit on duty, once.

Each tick asks the store to hand over if the unit on duty now differs from
the last handover's (``WorkflowStore.hand_over``: a ``duty_handovers`` row,
an audit row and a ``duty.handover`` event on ``city``, ``duty`` and both
units' channels, in one transaction), then announces the events. The store
serialises handovers, so two instances ticking at once hand over once.
"""

from __future__ import annotations

from rooms.events import Publisher
from rooms.workflow_store import WorkflowStore

__all__ = ["DutyRotation"]


class DutyRotation:
    """A ``workers.runtime.Job``."""

    name = "duty-rotation"

    def __init__(self, store: WorkflowStore, publisher: Publisher, *, interval: float = 5.0) -> None:
        self.store = store
        self.publisher = publisher
        self.interval = interval

    async def tick(self, now: float) -> int:
        """Hand over if the duty moved; return 1 if it did, else 0."""
        change = await self.store.hand_over(now)
        if change.events:
            self.publisher.announce(change.events)
        return 0 if change.value is None else 1
