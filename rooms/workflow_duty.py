"""The duty rotation (轮值) and its handovers: the operations, on any backend (``rooms.sql.Tx``).

One rotation (``duty_rotation``, a single row): units in turn, each for a
day or a week from ``anchor_at`` (``rooms.workflow.Rotation``). A handover is
recorded (``duty_handovers``) and announced once each time the unit on duty
differs from the last handover's: by the ``duty-rotation`` worker
(``workers.workflow_jobs``) when a slot begins, or at once when a new rotation moves
the duty. The first unit ever on duty is recorded (audit action ``start``)
without an event: nothing was handed over, and ``duty.rotation`` (or the
seed) said who is on duty.

After an outage of the worker (no instance ticked for one slot or more) the
duty log stays complete but the live channels hear only what is true now:
every slot that began after the last handover was recorded, and before the
current one, is recorded as a handover of its own (``at``: when it was
recorded, later than its ``since_at``; audit action ``missed``) without an
event, and then the current slot is handed over with one ``duty.handover``
whose ``missed`` counts them. Telling a unit that its duty began when its
duty has already ended would only be noise; the log still answers "who was
on duty at time t". At most ``MAX_MISSED`` slots are recorded (the latest).
A new rotation first records the old rotation's unrecorded slots, up to now,
the same way.

Events: ``duty.handover`` (``{"handover", "current", "next", "missed"}``) on ``city``,
``duty``, ``unit:{from}`` and ``unit:{to}``; ``duty.rotation`` (``{"duty":
<GET /api/duty JSON>, "actor"}``) on ``city`` and ``duty``.
"""

from __future__ import annotations

from collections.abc import Sequence

import orjson

from rooms.sql import Row, Tx
from rooms.workflow import PERIODS, Actor, DutyView, Forbidden, Handover, Invalid, Rotation
from rooms.workflow_base import Change, Transactor, publications
from rooms.workflow_sessions import check_units

__all__ = ["DutyOps", "duty_view", "on_duty", "read_rotation"]

MAX_ROTATION = 64
MAX_MISSED = 1000  # slots recorded after an outage: close to three years of daily slots

_ROTATION = "SELECT units, period, anchor_at, updated_by, updated_at FROM duty_rotation WHERE id = 1"
_HANDOVER = "SELECT id, since_at, from_unit, to_unit, at FROM duty_handovers"


def _handover(row: Row) -> Handover:
    return Handover(int(row[0]), float(row[1]), row[2], row[3], float(row[4]))


async def _last_handover(tx: Tx) -> Handover | None:
    row = await tx.row(f"{_HANDOVER} ORDER BY id DESC LIMIT 1")
    return None if row is None else _handover(row)


async def _insert_handover(tx: Tx, since_at: float, from_unit: str | None, to_unit: str, now: float) -> Handover:
    row = await tx.row(
        "INSERT INTO duty_handovers (since_at, from_unit, to_unit, at) VALUES (?, ?, ?, ?) RETURNING id",
        since_at,
        from_unit,
        to_unit,
        now,
    )
    assert row is not None, "INSERT ... RETURNING returns its row"
    return Handover(int(row[0]), since_at, from_unit, to_unit, now)


async def read_rotation(tx: Tx, *, lock: bool = False) -> Rotation | None:
    row = await (tx.lock(_ROTATION) if lock else tx.row(_ROTATION))
    if row is None:
        return None
    return Rotation(orjson.loads(row[0]), row[1], float(row[2]), row[3], float(row[4]))


async def on_duty(tx: Tx, at: float) -> str | None:
    rotation = await read_rotation(tx)
    return None if rotation is None else rotation.slot(at).unit


def duty_view(rotation: Rotation | None, at: float) -> DutyView:
    if rotation is None:
        return DutyView(None, None, None)
    current = rotation.slot(at)
    return DutyView(current, rotation.slot(current.until_at), rotation)


class DutyOps(Transactor):
    """The duty rotation (``rooms.workflow_store.WorkflowStore``)."""

    async def on_duty_unit(self, at: float) -> str | None:
        """The unit on duty at ``at``; None when no rotation is set."""
        return await self._read(lambda tx: on_duty(tx, at))

    async def duty(self, at: float) -> DutyView:
        async def read(tx: Tx) -> DutyView:
            return duty_view(await read_rotation(tx), at)

        return await self._read(read)

    async def handovers(self, limit: int = 50) -> list[Handover]:
        """The newest handovers, newest first."""

        async def read(tx: Tx) -> list[Handover]:
            return [_handover(r) for r in await tx.rows(f"{_HANDOVER} ORDER BY id DESC LIMIT ?", limit)]

        return await self._read(read)

    async def put_rotation(
        self, actor: Actor, *, units: Sequence[str], period: str, anchor_at: float
    ) -> Change[DutyView]:
        """Replace the rotation; a change of the unit on duty is handed over at once."""
        if not actor.may_set_rotation():
            raise Forbidden("commanders and chief editors set the duty rotation")
        if not 1 <= len(units) <= MAX_ROTATION or len(set(units)) != len(units):
            raise Invalid("units", f"1 to {MAX_ROTATION} distinct unit codes")
        if period not in PERIODS:
            raise Invalid("period", f"one of {', '.join(PERIODS)}")

        async def change(tx: Tx) -> DutyView:
            await check_units(tx, "units", units)
            old = await read_rotation(tx, lock=True)
            last = await _last_handover(tx)
            missed = [] if old is None else await self._record_missed(tx, old, last, old.slot(tx.now).until_at)
            await tx.execute(
                "INSERT INTO duty_rotation (id, units, period, anchor_at, updated_by, updated_at) "
                "VALUES (1, ?, ?, ?, ?, ?) ON CONFLICT (id) DO UPDATE SET units = excluded.units, "
                "period = excluded.period, anchor_at = excluded.anchor_at, updated_by = excluded.updated_by, "
                "updated_at = excluded.updated_at",
                orjson.dumps(list(units)).decode(),
                period,
                anchor_at,
                actor.id,
                tx.now,
            )
            rotation = Rotation(list(units), period, anchor_at, actor.id, tx.now)
            view = duty_view(rotation, tx.now)
            tx.publish(publications(["city", "duty"], "duty.rotation", {"duty": view.to_json(), "actor": actor.id}))
            detail = {"action": "rotation", "units": list(units), "period": period, "anchor_at": anchor_at}
            self._audit(tx, actor, "duty", "rotation", detail)
            await self._hand_over_in(tx, rotation, tx.now, last, missed, actor)
            return view

        return await self._transact(change)

    async def hand_over(self, now: float) -> Change[Handover | None]:
        """Record and announce a change of the unit on duty since the last handover, once."""

        async def change(tx: Tx) -> Handover | None:
            rotation = await read_rotation(tx, lock=True)  # one handover at a time, on every node
            if rotation is None:
                return None
            last = await _last_handover(tx)
            missed = await self._record_missed(tx, rotation, last, rotation.slot(now).since_at, now)
            return await self._hand_over_in(tx, rotation, now, last, missed)

        return await self._transact(change)

    async def _record_missed(
        self, tx: Tx, rotation: Rotation, last: Handover | None, until: float, now: float | None = None
    ) -> list[Handover]:
        """Record, without events, the changes of duty in the slots that began after ``last`` was
        recorded and before ``until``: the slots no tick handed over."""
        if last is None:
            return []
        now = tx.now if now is None else now
        missed: list[Handover] = []
        unit = last.to_unit
        for slot in rotation.slots_starting(last.at, until, most=MAX_MISSED):
            if slot.unit == unit:
                continue
            missed.append(await _insert_handover(tx, slot.since_at, unit, slot.unit, now))
            detail = {"action": "missed", "from": unit, "to": slot.unit, "since_at": slot.since_at}
            self._audit(tx, None, "duty", "handover", detail)
            unit = slot.unit
        return missed

    async def _hand_over_in(
        self,
        tx: Tx,
        rotation: Rotation,
        now: float,
        last: Handover | None,
        missed: list[Handover],
        actor: Actor | None = None,
    ) -> Handover | None:
        """Hand the current slot over from the unit last recorded on duty (``missed`` included), if it differs."""
        current = rotation.slot(now)
        previous = missed[-1].to_unit if missed else None if last is None else last.to_unit
        if previous == current.unit:
            return None
        handover = await _insert_handover(tx, current.since_at, previous, current.unit, now)
        if previous is None:  # the first unit on duty: nothing was handed over
            self._audit(tx, actor, "duty", "handover", {"action": "start", "to": current.unit})
            return handover
        data = {
            "handover": handover.to_json(),
            "current": current.to_json(),
            "next": rotation.slot(current.until_at).to_json(),
            "missed": len(missed),
            "actor": None if actor is None else actor.id,
        }
        channels = ["city", "duty", f"unit:{previous}", f"unit:{current.unit}"]
        tx.publish(publications(channels, "duty.handover", data))
        detail = {"action": "handover", "from": previous, "to": current.unit, "missed": len(missed)}
        self._audit(tx, actor, "duty", "handover", detail)
        return handover

    async def seed_rotation(self, rotation: Rotation) -> bool:
        """Store ``rotation`` if there is none; True if it was stored (no events, no audit)."""

        async def change(tx: Tx) -> bool:
            inserted = await tx.execute(
                "INSERT INTO duty_rotation (id, units, period, anchor_at, updated_by, updated_at) "
                "VALUES (1, ?, ?, ?, ?, ?) ON CONFLICT (id) DO NOTHING",
                orjson.dumps(list(rotation.units)).decode(),
                rotation.period,
                rotation.anchor_at,
                rotation.updated_by,
                tx.now,
            )
            return inserted == 1

        return (await self._transact(change)).value
