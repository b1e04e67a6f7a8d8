"""The pure rules: state machine tables, the rotation's arithmetic, the ``city`` channel, the SQL adapter."""

from __future__ import annotations

import time

import pytest

from hub.auth import Identity, may_edit_room
from rooms.channels import BadChannel, Channel, Kind, authorize, parse_channel
from rooms.directory import Room, Unit
from rooms.sql import dollar_params
from rooms.workflow import MACHINES, RECEIPT, SESSION, TASK, TOPIC, IllegalTransition, Machine, Rotation

INITIAL = {"session": "scheduled", "topic": "submitted", "task": "open", "receipt": "delivered"}


@pytest.mark.parametrize("machine", MACHINES.values(), ids=list(MACHINES))
def test_every_state_is_reachable_and_every_pair_is_decided(machine: Machine) -> None:
    reached, frontier = {INITIAL[machine.entity]}, [INITIAL[machine.entity]]
    while frontier:
        state = frontier.pop()
        for action in machine.allowed(state):
            target = machine.next(state, action)
            if target not in reached:
                reached.add(target)
                frontier.append(target)
    assert reached == set(machine.states)
    for state in machine.states:
        for action in machine.actions:
            if action in machine.allowed(state):
                assert machine.next(state, action) == machine.transitions[(state, action)]
            else:
                with pytest.raises(IllegalTransition) as refused:
                    machine.next(state, action)
                assert refused.value.allowed == machine.allowed(state) and refused.value.entity == machine.entity


def test_the_tables_say_what_the_contract_says() -> None:
    assert SESSION.allowed("closed") == ["reopen", "archive"] and SESSION.allowed("archived") == []
    assert TOPIC.allowed("returned") == ["resubmit", "withdraw"]
    assert TASK.allowed("open") == ["reassign", "cancel", "complete"]
    assert RECEIPT.allowed("acknowledged") == ["accept", "decline", "reassign"]
    assert RECEIPT.allowed("reassigned") == []


def test_the_rotation_counts_slots_from_its_anchor() -> None:
    rotation = Rotation(["a", "b", "c"], "daily", 1000.0)
    assert rotation.slot(1000.0) == rotation.slot(87_399.0)
    assert [rotation.slot(1000.0 + d * 86_400 + 1).unit for d in range(-1, 5)] == ["c", "a", "b", "c", "a", "b"]
    slot = rotation.slot(1000.0 + 2.5 * 86_400)
    assert (slot.unit, slot.since_at, slot.until_at) == ("c", 1000.0 + 2 * 86_400, 1000.0 + 3 * 86_400)
    assert Rotation(["a", "b"], "weekly", 0.0).slot(8 * 86_400).unit == "b"


def test_the_slots_that_began_in_a_span_are_counted_strictly_and_bounded() -> None:
    day = 86_400.0
    rotation = Rotation(["a", "b", "c"], "daily", 1000.0)
    starts = [s.since_at for s in rotation.slots_starting(1000.0, 1000.0 + 3 * day, most=10)]
    assert starts == [1000.0 + day, 1000.0 + 2 * day], "a slot starting at either end is not inside"
    inside = rotation.slots_starting(1000.0 + 0.5 * day, 1000.0 + 3.5 * day, most=10)
    assert [s.unit for s in inside] == ["b", "c", "a"]
    assert [s.unit for s in rotation.slots_starting(1000.0, 1000.0 + 3.5 * day, most=2)] == ["c", "a"], "the latest"
    assert rotation.slots_starting(1000.0 + 5, 1000.0 + day, most=10) == []


class NoLookup:
    async def room(self, room_id: str) -> Room | None:
        return None

    async def units(self) -> list[Unit]:
        return []


async def test_every_signed_in_user_may_subscribe_to_city() -> None:
    assert parse_channel("city") == Channel(Kind.CITY, "")
    for bad in ("city:humen", "city:"):
        with pytest.raises(BadChannel):
            parse_channel(bad)
    viewer = Identity("gaobu-viewer", "v", "gaobu", frozenset({"viewer"}), time.time() + 60)
    await authorize(viewer, parse_channel("city"), NoLookup())


def test_closed_and_archived_sessions_are_read_only() -> None:
    editor = Identity("humen-editor", "e", "humen", frozenset({"editor"}), time.time() + 60)
    viewer = Identity("humen-viewer", "v", "humen", frozenset({"viewer"}), time.time() + 60)
    for status, editable in [("scheduled", True), ("open", True), ("closed", False), ("archived", False)]:
        room = Room("r", "t", "humen", frozenset(), status)
        assert may_edit_room(editor, room) is editable
        assert may_edit_room(viewer, room) is False


def test_placeholders_become_numbered() -> None:
    assert (
        dollar_params("SELECT a FROM t WHERE b = ? AND c IN (?, ?)") == "SELECT a FROM t WHERE b = $1 AND c IN ($2, $3)"
    )
    assert dollar_params("SELECT 1") == "SELECT 1"
