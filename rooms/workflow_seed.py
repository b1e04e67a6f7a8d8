"""Demo workflow data, for development mode: a duty rotation and a task.

- The rotation: the park centres and sub-districts (each has a duty editor
  among the demo people, ``rooms.seed``), a week each, from Monday
  2024-01-01 00:00 in the city's time zone. Stored without events: the
  first unit on duty is not a handover.
- A task from the city command centre to two coastal members of the typhoon
  drill (Shatian, Binhaiwan), so the dispatch pages are not empty. Its
  events go to those units' channels only; no demo data touches ``duty``.

Seeding happens once: only the run that stores the rotation (an insert that
does nothing when there is one) adds the task, so restarts
and nodes starting together add nothing. The changes go through the store's
operation, audited and with its events, which the caller announces.
"""

from __future__ import annotations

import datetime as dt

from rooms.directory import Role, Unit
from rooms.events import Event
from rooms.workflow import CITY_TZ, Actor, Rotation
from rooms.workflow_store import Recipient, WorkflowStore

__all__ = ["DUTY_ANCHOR", "demo_rotation", "seed_workflow"]

DUTY_ANCHOR = dt.datetime(2024, 1, 1, tzinfo=CITY_TZ).timestamp()  # a Monday
DAY = 86_400.0


def demo_rotation(units: list[Unit]) -> Rotation:
    duty_units = [u.code for u in units if u.kind in ("park", "subdistrict")]
    return Rotation(duty_units, "weekly", DUTY_ANCHOR, "dgdaily-commander")


async def seed_workflow(store: WorkflowStore, units: list[Unit]) -> list[Event]:
    """Seed the demo rotation and task once; return the events to announce."""
    if not await store.seed_rotation(demo_rotation(units)):
        return []
    now = store.clock()
    commander = Actor("dgdaily-commander", "dgdaily", "city_outlet", frozenset({Role.COMMANDER}))
    task = await store.create_task(
        commander,
        title="请报送辖区防御台风准备情况",
        body="含转移安置点、值守人员和图片素材，今日内回复。",
        priority="high",
        deadline_at=now + DAY,
        recipients=[Recipient("unit", "shatian"), Recipient("unit", "binhaiwan")],
    )
    return task.events
