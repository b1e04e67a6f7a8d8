"""The workflow's jobs (``dispatch-escalation``, ``duty-rotation``, ``session-schedule``), ticked directly
with an injected clock, on both backends."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Sequence
from typing import Any, cast

import orjson

from rooms.events import Event, Publisher
from rooms.sql import Tx
from rooms.workflow import Rotation
from rooms.workflow_store import Recipient
from tests.review.helpers import eventually
from tests.workflow.bench import START, Bench
from workers.workflow_jobs import DispatchEscalation, DutyRotation, SessionSchedule

DAY = 86_400.0
ANCHOR = START - 10


class Announced:
    """What a job announced: the hub wires ``Publisher.announce`` to the fan-out and the broker."""

    def __init__(self) -> None:
        self.events: list[Event] = []
        self.publisher = Publisher(cast(Any, None), self.record)  # announce only: jobs commit through the store

    def record(self, events: Sequence[Event]) -> None:
        self.events += events

    def take(self) -> list[Event]:
        taken, self.events = self.events, []
        return taken


@contextlib.asynccontextmanager
async def holding_the_room(bench: Bench, room_id: str) -> AsyncIterator[None]:
    """A transaction that holds the room's row (PostgreSQL; the whole store on SQLite) until the block ends."""
    locked, release = asyncio.Event(), asyncio.Event()

    async def hold(tx: Tx) -> None:
        await tx.lock("SELECT id FROM rooms WHERE id = ?", room_id)
        locked.set()
        await release.wait()

    holder = asyncio.create_task(cast(Any, bench.store)._transact(hold))
    await locked.wait()
    try:
        yield
    finally:
        release.set()
        await holder


async def waiting_updates(bench: Bench, count: int) -> bool:
    """PostgreSQL: ``count`` updates of ``rooms`` are waiting for a lock."""
    row = await cast(Any, bench.store)._read(
        lambda tx: tx.row(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
            "AND wait_event_type = 'Lock' AND query LIKE 'UPDATE rooms SET status%'"
        )
    )
    return int(row[0]) == count


async def rotation(bench: Bench, units: list[str]) -> None:
    commander = await bench.actor("dgdaily-commander")
    await bench.store.put_rotation(commander, units=units, period="daily", anchor_at=ANCHOR)


async def test_overdue_unacknowledged_receipts_are_escalated_once(bench: Bench) -> None:
    store, announced = bench.store, Announced()
    job = DispatchEscalation(store, announced.publisher)
    await rotation(bench, ["binhaiwan", "guancheng"])
    commander = await bench.actor("dgdaily-commander")
    recipients = [Recipient("unit", "humen"), Recipient("user", "changan-editor"), Recipient("unit", "shatian")]
    task = (
        await store.create_task(
            commander, title="防台", body="", priority="urgent", deadline_at=START + 100, recipients=recipients
        )
    ).value
    humen, changan, shatian = (r.id for r in task.receipts)
    await store.receipt_action(await bench.actor("humen-viewer"), task.id, humen, "read")
    await store.receipt_action(await bench.actor("shatian-editor"), task.id, shatian, "acknowledge")

    assert await job.tick(START + 99) == 0 and announced.take() == []
    assert await job.tick(START + 100) == 2
    events = announced.take()
    assert {e.type for e in events} == {"task.escalated"}
    assert all(orjson.loads(e.data)["actor"] is None for e in events), "a job's events name no actor"
    assert {e.channel for e in events} == {"unit:binhaiwan", "duty", "user:dgdaily-commander"}
    assert len(events) == 2 * 3  # two receipts, three channels each
    after = await store.task(commander, task.id)
    by_id = {r.id: r for r in after.receipts}
    assert by_id[humen].escalated_at == START + 100 and by_id[humen].escalated_to == "binhaiwan"
    assert by_id[changan].escalated_at == START + 100
    assert by_id[shatian].escalated_at is None
    audited = await bench.audit("receipt")
    escalations = [r.event for r in audited if r.event.detail.get("action") == "escalate"]
    assert {e.target for e in escalations} == {f"task/{task.id}/receipt/{humen}", f"task/{task.id}/receipt/{changan}"}
    assert all(e.actor is None and e.detail["on_duty"] == "binhaiwan" for e in escalations)
    assert escalations[0].detail["commanders"] == ["dgdaily-commander"]

    assert await job.tick(START + 500) == 0 and announced.take() == [], "escalated once"
    # Escalation is not a state: the receipt can still be answered.
    answered = await store.receipt_action(await bench.actor("humen-editor"), task.id, humen, "accept")
    assert answered.value.receipt(humen) is not None


async def test_closed_tasks_and_concurrent_ticks_escalate_nothing_twice(bench: Bench) -> None:
    store, announced = bench.store, Announced()
    commander = await bench.actor("dgdaily-commander")
    cancelled = (
        await store.create_task(
            commander, title="取消", body="", priority="low", deadline_at=START, recipients=[Recipient("unit", "humen")]
        )
    ).value
    await store.task_action(commander, cancelled.id, "cancel", reason="不需要")
    units = ["humen", "changan", "shatian", "houjie", "gaobu"]
    for unit in units:
        await store.create_task(
            commander, title="到期", body="", priority="high", deadline_at=START, recipients=[Recipient("unit", unit)]
        )
    jobs = [DispatchEscalation(store, announced.publisher, batch=2) for _ in range(3)]
    done = 0
    while True:
        counts = await asyncio.gather(*(job.tick(START + 1) for job in jobs))
        done += sum(counts)
        if not any(counts):
            break
    assert done == len(units)
    # Without a rotation nobody is on duty: duty desk, assigner and commanders still hear of it.
    assert {e.channel for e in announced.take()} == {"duty", "user:dgdaily-commander"}
    assert (await store.task(commander, cancelled.id)).receipts[0].escalated_at is None


async def test_each_handover_is_announced_once(bench: Bench) -> None:
    store, announced = bench.store, Announced()
    job = DutyRotation(store, announced.publisher)
    assert await job.tick(START) == 0 and announced.take() == [], "no rotation, no duty"
    assert await store.on_duty_unit(START) is None
    assert await store.seed_rotation(Rotation(["houjie"], "daily", ANCHOR)) is True
    assert await store.seed_rotation(Rotation(["gaobu"], "daily", ANCHOR)) is False, "seeding never overwrites"
    assert await job.tick(START) == 1 and announced.take() == [], "the first unit on duty starts it silently"

    await rotation(bench, ["binhaiwan", "guancheng"])  # moves the duty from houjie to binhaiwan at once
    first = (await store.handovers())[0]
    assert (first.from_unit, first.to_unit, first.since_at) == ("houjie", "binhaiwan", ANCHOR)
    assert await job.tick(START) == 0 and announced.take() == []

    assert await store.on_duty_unit(START + DAY) == "guancheng"
    assert await store.on_duty_unit(ANCHOR - 1) == "guancheng", "before the anchor the rotation runs backwards"
    assert await job.tick(START + DAY) == 1
    events = announced.take()
    assert {e.type for e in events} == {"duty.handover"}
    assert {e.channel for e in events} == {"city", "duty", "unit:binhaiwan", "unit:guancheng"}
    assert all(orjson.loads(e.data)["actor"] is None for e in events), "a job's events name no actor"
    handover = (await store.handovers())[0]
    assert (handover.from_unit, handover.to_unit, handover.since_at) == ("binhaiwan", "guancheng", ANCHOR + DAY)
    assert await job.tick(START + DAY + 60) == 0

    concurrent = await asyncio.gather(*(job.tick(START + 2 * DAY) for _ in range(4)))
    assert sorted(concurrent) == [0, 0, 0, 1]
    assert [h.to_unit for h in await store.handovers()] == ["binhaiwan", "guancheng", "binhaiwan", "houjie"]
    audited = [r.event.detail for r in await bench.audit("duty")]
    assert [d["action"] for d in audited] == ["start", "rotation", "handover", "handover", "handover"]


async def test_the_duty_view_and_a_rotation_change(bench: Bench) -> None:
    store = bench.store
    assert (await store.duty(START)).to_json() == {"current": None, "next": None, "rotation": None}
    first = await store.put_rotation(
        await bench.actor("dgdaily-commander"), units=["binhaiwan", "guancheng", "nancheng"], period="daily",
        anchor_at=ANCHOR,
    )  # fmt: skip
    assert {e.type for e in first.events} == {"duty.rotation"} and {e.channel for e in first.events} == {"city", "duty"}
    view = await store.duty(START + DAY)
    assert view.current is not None and view.next is not None
    assert (view.current.unit, view.current.since_at, view.current.until_at) == (
        "guancheng", ANCHOR + DAY, ANCHOR + 2 * DAY
    )  # fmt: skip
    assert view.next.unit == "nancheng"
    # A new rotation that moves the duty hands over in the same change.
    chief = await bench.actor("dgrtv-chief")
    change = await store.put_rotation(chief, units=["nancheng"], period="weekly", anchor_at=ANCHOR)
    assert {e.type for e in change.events} == {"duty.rotation", "duty.handover"}
    assert (await store.handovers())[0].to_unit == "nancheng"
    same = await store.put_rotation(chief, units=["nancheng", "guancheng"], period="weekly", anchor_at=ANCHOR)
    assert {e.type for e in same.events} == {"duty.rotation"}, "nancheng stays on duty: no handover"


async def test_an_outage_keeps_the_duty_log_and_announces_one_handover(bench: Bench) -> None:
    store, announced = bench.store, Announced()
    job = DutyRotation(store, announced.publisher)
    await rotation(bench, ["binhaiwan", "guancheng", "nancheng"])  # binhaiwan from ANCHOR (recorded at START)
    # No instance ticked for four days: guancheng's, nancheng's and binhaiwan's slots passed unannounced.
    assert await job.tick(START + 4 * DAY) == 1
    events = announced.take()
    assert {e.type for e in events} == {"duty.handover"}, "one announcement, not one per missed slot"
    assert {e.channel for e in events} == {"city", "duty", "unit:binhaiwan", "unit:guancheng"}
    data = orjson.loads(events[0].data)
    assert data["missed"] == 3 and data["current"]["unit"] == "guancheng"
    assert (data["handover"]["from_unit"], data["handover"]["to_unit"]) == ("binhaiwan", "guancheng")
    log = [(h.from_unit, h.to_unit, h.since_at, h.at) for h in reversed(await store.handovers())]
    assert log == [
        (None, "binhaiwan", ANCHOR, START),
        ("binhaiwan", "guancheng", ANCHOR + DAY, START + 4 * DAY),
        ("guancheng", "nancheng", ANCHOR + 2 * DAY, START + 4 * DAY),
        ("nancheng", "binhaiwan", ANCHOR + 3 * DAY, START + 4 * DAY),
        ("binhaiwan", "guancheng", ANCHOR + 4 * DAY, START + 4 * DAY),
    ], "every slot is in the log, recorded when the job came back"
    audited = [r.event for r in await bench.audit("duty", "handover")]
    assert [e.detail["action"] for e in audited] == ["start", "missed", "missed", "missed", "handover"]
    assert all(e.actor is None for e in audited[1:])
    assert audited[1].detail == {"action": "missed", "from": "binhaiwan", "to": "guancheng", "since_at": ANCHOR + DAY}
    assert await job.tick(START + 4 * DAY + 60) == 0 and announced.take() == []


async def test_an_outage_ending_on_the_same_unit_still_hands_over(bench: Bench) -> None:
    store, announced = bench.store, Announced()
    job = DutyRotation(store, announced.publisher)
    await rotation(bench, ["binhaiwan", "guancheng"])
    assert await job.tick(START + 2 * DAY) == 1, "binhaiwan again, but guancheng held the duty in between"
    data = orjson.loads(announced.take()[0].data)
    assert data["missed"] == 1
    assert (data["handover"]["from_unit"], data["handover"]["to_unit"]) == ("guancheng", "binhaiwan")


async def test_a_new_rotation_after_an_outage_records_the_old_rotations_slots(bench: Bench) -> None:
    store, announced = bench.store, Announced()
    await rotation(bench, ["binhaiwan", "guancheng"])
    bench.clock.now = START + 2 * DAY + 30  # guancheng's day and binhaiwan's again were never handed over
    change = await store.put_rotation(
        await bench.actor("dgrtv-chief"), units=["nancheng"], period="daily", anchor_at=ANCHOR
    )
    handover = next(orjson.loads(e.data) for e in change.events if e.type == "duty.handover")
    assert (handover["handover"]["from_unit"], handover["handover"]["to_unit"]) == ("binhaiwan", "nancheng")
    assert handover["missed"] == 2 and handover["actor"] == "dgrtv-chief"
    log = [(h.from_unit, h.to_unit, h.since_at) for h in reversed(await store.handovers())]
    assert log[1:] == [
        ("binhaiwan", "guancheng", ANCHOR + DAY),
        ("guancheng", "binhaiwan", ANCHOR + 2 * DAY),
        ("binhaiwan", "nancheng", ANCHOR + 2 * DAY),
    ]
    assert await DutyRotation(store, announced.publisher).tick(START + 2 * DAY + 60) == 0


async def test_scheduled_sessions_open_when_their_start_comes(bench: Bench) -> None:
    store, announced = bench.store, Announced()
    editor = await bench.actor("dgdaily-editor")

    async def scheduled(session_id: str, starts_at: float | None) -> None:
        await store.create_session(
            editor, title=session_id, member_units=["humen"], starts_at=starts_at, session_id=session_id
        )

    await scheduled("due", START - 5)
    await scheduled("later", START + 60)
    await scheduled("unplanned", None)
    await scheduled("closed", START - 3600)
    await store.session_action(editor, "closed", "open")
    await store.session_action(editor, "closed", "close")
    await scheduled("by-hand", START - 1)
    await store.session_action(editor, "by-hand", "open")  # a planner opened it first: the job leaves it
    since = await bench.age_room("due")

    assert await SessionSchedule(store, announced.publisher).tick(START) == 1
    events = announced.take()
    assert {e.type for e in events} == {"session.opened"}
    assert {e.channel for e in events} == {"room:due", "unit:dgdaily", "unit:humen"}
    data = orjson.loads(events[0].data)
    assert data["actor"] is None and data["reason"] == "scheduled start" and data["session"]["status"] == "open"
    statuses = {s: (await store.session(editor, s)).status for s in ("due", "later", "unplanned", "closed")}
    assert statuses == {"due": "open", "later": "scheduled", "unplanned": "scheduled", "closed": "closed"}
    changed = {r.id: r for r in (await bench.directory.changes(since)).rooms}
    assert changed["due"].status == "open", "the hubs' revocation poll sees the opening"
    (audited,) = [r.event for r in await bench.audit("session", "due") if r.event.detail["action"] == "open"]
    assert audited.actor is None
    assert audited.detail == {"action": "open", "from": "scheduled", "to": "open", "reason": "scheduled start"}
    assert [r.event.actor for r in await bench.audit("session", "by-hand") if r.event.detail["action"] == "open"] == [
        "dgdaily-editor"
    ]

    # Two instances tick at once when "later" is due, both having found it due before either writes: it opens once.
    jobs = [SessionSchedule(store, announced.publisher) for _ in range(2)]
    async with holding_the_room(bench, "later"):
        ticks = asyncio.gather(*(job.tick(START + 60) for job in jobs))
        if bench.backend == "postgres":  # SQLite runs one transaction at a time: nothing to wait for
            await eventually(lambda: waiting_updates(bench, 2), "both ticks waiting to open the session")
    assert sorted(await ticks) == [0, 1]
    assert len([e for e in announced.take() if e.channel == "room:later"]) == 1
    assert sorted(r.event.detail["action"] for r in await bench.audit("session", "later")) == ["create", "open"]
    assert (await store.session(editor, "unplanned")).status == "scheduled", "no start time: a planner opens it"
