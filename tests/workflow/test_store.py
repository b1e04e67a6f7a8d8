"""The workflow store beyond the state machines, on both backends: lists and pages, sessions and
their members as the hubs see them, drafts, invalid input, and events that commit with the change."""

from __future__ import annotations

import orjson
import pytest

from rooms.events import Event
from rooms.workflow import Conflict, IllegalTransition, Invalid, NotFound
from rooms.workflow_store import Filters, Recipient
from tests.workflow.bench import Bench

DAY = 86_400.0


async def test_pages_cover_every_item_once_newest_first(bench: Bench) -> None:
    reporter, chief = await bench.actor("humen-reporter"), await bench.actor("dgdaily-chief")
    made = []
    for i in range(7):
        bench.clock.now += 10
        change = await bench.store.submit_topic(
            reporter, title=f"题{i}", angle="", proposed_date="2026-06-01", platforms=[], links=[]
        )
        made.append(change.value.id)
    seen: list[int] = []
    cursor = None
    while True:
        page = await bench.store.topics(chief, Filters(limit=3, cursor=cursor))
        seen += [t.id for t in page.items]
        if page.next is None:
            break
        cursor = page.next
    assert seen == sorted(made, reverse=True)
    with pytest.raises(Invalid):
        await bench.store.topics(chief, Filters(cursor="not-a-cursor"))
    with pytest.raises(Invalid):
        await bench.store.sessions(chief, Filters(cursor=page.next or "WzJd"))  # a topic cursor is not a session's


async def test_filters_by_status_unit_and_time(bench: Bench) -> None:
    store, chief = bench.store, await bench.actor("dgdaily-chief")
    start = bench.clock.now
    ids = {}
    for user in ("humen-reporter", "changan-reporter", "humen-editor"):
        bench.clock.now += DAY
        change = await store.submit_topic(
            await bench.actor(user), title=user, angle="", proposed_date="2026-06-01", platforms=[], links=[]
        )
        ids[user] = change.value.id
    await store.topic_action(chief, ids["humen-editor"], "reject", reason="重复")

    async def found(**kw: object) -> list[str]:
        return [t.created_by for t in (await store.topics(chief, Filters(**kw))).items]  # type: ignore[arg-type]

    assert await found(unit="humen") == ["humen-editor", "humen-reporter"]
    assert await found(status=("submitted",)) == ["changan-reporter", "humen-reporter"]
    assert await found(status=("rejected", "approved")) == ["humen-editor"]
    assert await found(after=start + 1.5 * DAY) == ["humen-editor", "changan-reporter"]
    assert await found(after=start + 1.5 * DAY, before=start + 2.5 * DAY) == ["changan-reporter"]
    # A unit that is not the desk sees its own topics only, whatever it asks for.
    humen = await bench.actor("humen-viewer")
    assert {t.unit for t in (await store.topics(humen, Filters(unit="changan"))).items} == set()


async def test_session_lists_follow_membership(bench: Bench) -> None:
    store = bench.store
    owner = await bench.actor("dgdaily-editor")
    for n in range(3):
        bench.clock.now += 1
        await store.create_session(owner, title=f"策划{n}", member_units=["humen"] if n else [], session_id=f"plan-{n}")
    humen, commander = await bench.actor("humen-editor"), await bench.actor("dgdaily-commander")
    assert [s.id for s in (await store.sessions(humen, Filters())).items] == ["plan-2", "plan-1", "typhoon-drill"]
    every = await store.sessions(commander, Filters(limit=2))
    assert [s.id for s in every.items] == ["plan-2", "plan-1"] and every.next is not None
    rest = await store.sessions(commander, Filters(cursor=every.next))
    assert [s.id for s in rest.items] == ["plan-0", "dragon-boat", "typhoon-drill"] or [s.id for s in rest.items] == [
        "plan-0",
        "typhoon-drill",
        "dragon-boat",
    ]
    assert [s.id for s in (await store.sessions(commander, Filters(unit="wanjiang"))).items] == ["dragon-boat"]
    assert [s.id for s in (await store.sessions(commander, Filters(status=("scheduled",)))).items] == [
        "plan-2",
        "plan-1",
        "plan-0",
    ]


async def test_seeded_demo_sessions_are_open_and_usable(bench: Bench) -> None:
    editor = await bench.actor("humen-editor")
    session = await bench.store.session(editor, "typhoon-drill")
    assert session.status == "open" and session.owner_unit == "dgdaily" and session.created_by is None
    assert session.created_at > 0
    draft = (await bench.store.create_draft(editor, "typhoon-drill", title="虎门稿", lead_unit="humen")).value
    assert draft.path == f"typhoon-drill/{draft.name}"
    assert (await bench.store.session(editor, "typhoon-drill")).drafts_count == 1


async def test_membership_and_state_reach_the_directory_with_a_new_change_time(bench: Bench) -> None:
    store, directory, owner = bench.store, bench.directory, await bench.actor("dgdaily-editor")
    session = (await store.create_session(owner, title="联动", member_units=["humen"], session_id="joint")).value
    assert session.status == "scheduled" and session.member_units == frozenset({"humen"})
    steps = [
        lambda: store.invite(owner, "joint", ["changan", "humen"]),
        lambda: store.remove_member(owner, "joint", "humen"),
        lambda: store.session_action(owner, "joint", "open"),
        lambda: store.session_action(owner, "joint", "close"),
    ]
    expected = [
        ({"humen", "changan"}, "scheduled"),
        ({"changan"}, "scheduled"),
        ({"changan"}, "open"),
        ({"changan"}, "closed"),
    ]
    for step, (members, status) in zip(steps, expected, strict=True):
        since = await bench.age_room("joint")
        await step()
        changed = await directory.changes(since)
        rooms = {r.id: r for r in changed.rooms}
        assert "joint" in rooms, "every change stamps the room's change time"
        assert rooms["joint"].member_units == frozenset(members) and rooms["joint"].status == status
    room = await directory.room("joint")
    assert room is not None and room.status == "closed" and room.member_units == frozenset({"changan"})


async def test_members_and_drafts_keep_their_rules(bench: Bench) -> None:
    store, owner = bench.store, await bench.actor("dgdaily-editor")
    await store.create_session(owner, title="联动", member_units=["humen"], session_id="joint")
    unchanged = await store.invite(owner, "joint", ["humen", "dgdaily"])
    assert unchanged.events == [] and unchanged.value.member_units == frozenset({"humen"})
    invited = await store.invite(owner, "joint", ["changan"])
    assert {e.type for e in invited.events} == {"session.invited"}
    assert "unit:changan" in {e.channel for e in invited.events}
    draft = (await store.create_draft(owner, "joint", title="稿", lead_unit="humen", name="main")).value
    with pytest.raises(Conflict):
        await store.create_draft(owner, "joint", title="稿", lead_unit="humen", name="main")
    with pytest.raises(Conflict):
        await store.remove_member(owner, "joint", "humen")  # humen leads a draft
    with pytest.raises(Invalid):
        await store.remove_member(owner, "joint", "dgdaily")
    with pytest.raises(NotFound):
        await store.remove_member(owner, "joint", "gaobu")
    with pytest.raises(Invalid):
        await store.create_draft(owner, "joint", title="稿", lead_unit="gaobu")
    moved = await store.update_draft(owner, "joint", draft.name, {"lead_unit": "changan"})
    assert {e.channel for e in moved.events} == {"room:joint", "unit:changan", "unit:humen"}
    removed = await store.remove_member(owner, "joint", "humen")
    assert "unit:humen" in {e.channel for e in removed.events}, "a removed unit hears of it"
    with pytest.raises(Conflict):
        await store.create_session(owner, title="又一个", member_units=[], session_id="joint")


async def test_closed_and_archived_sessions_are_final_for_their_drafts(bench: Bench) -> None:
    store, owner = bench.store, await bench.actor("dgdaily-editor")
    await store.create_session(owner, title="联动", member_units=["humen"], session_id="joint")
    draft = (await store.create_draft(owner, "joint", title="稿", lead_unit="humen")).value
    for action in ("open", "close"):
        await store.session_action(owner, "joint", action)
    with pytest.raises(IllegalTransition) as refused:
        await store.create_draft(owner, "joint", title="稿", lead_unit="humen")
    assert refused.value.state == "closed" and refused.value.allowed == ["reopen", "archive"]
    with pytest.raises(IllegalTransition):
        await store.update_draft(owner, "joint", draft.name, {"title": "新"})
    await store.session_action(owner, "joint", "archive")
    for attempt in (
        lambda: store.update_session(owner, "joint", {"title": "新"}),
        lambda: store.invite(owner, "joint", ["changan"]),
    ):
        with pytest.raises(IllegalTransition) as refused:
            await attempt()
        assert refused.value.state == "archived" and refused.value.allowed == []


async def test_invalid_input_changes_nothing(bench: Bench) -> None:
    store = bench.store
    owner, commander = await bench.actor("dgdaily-editor"), await bench.actor("dgdaily-commander")
    audit_before = len(await bench.audit("session"))
    for attempt, field in [
        (lambda: store.create_session(owner, title="t", member_units=["atlantis"]), "member_units"),
        (lambda: store.create_session(owner, title="t", member_units=[], session_id="../x"), "id"),
        (lambda: store.create_session(owner, title="t", member_units=[], starts_at=10.0, ends_at=5.0), "ends_at"),
        (lambda: store.update_session(owner, "typhoon-drill", {"owner_unit": "humen"}), "owner_unit"),
        (lambda: store.session_action(owner, "typhoon-drill", "explode"), "action"),
    ]:
        with pytest.raises(Invalid) as refused:
            await attempt()
        assert refused.value.field == field
    assert len(await bench.audit("session")) == audit_before
    reporter = await bench.actor("humen-reporter")
    with pytest.raises(Invalid) as bad_date:
        await store.submit_topic(reporter, title="t", angle="", proposed_date="2026-02-30", platforms=[], links=[])
    assert bad_date.value.field == "proposed_date"
    for kw, field in [
        ({"priority": "asap"}, "priority"),
        ({"recipients": []}, "recipients"),
        ({"recipients": [Recipient("unit", "humen")] * 2}, "recipients"),
        ({"recipients": [Recipient("user", "nobody")]}, "recipients"),
        ({"session": "no-such-session"}, "session"),
    ]:
        args = {"title": "t", "body": "", "priority": "low", "deadline_at": 1.0}
        args.setdefault("recipients", [Recipient("unit", "humen")])  # type: ignore[arg-type]
        with pytest.raises(Invalid) as refused:
            await store.create_task(commander, **{**args, **kw})  # type: ignore[arg-type]
        assert refused.value.field == field
    assert (await store.tasks(commander, "all", Filters())).items == []


async def test_a_failed_change_publishes_nothing(bench: Bench) -> None:
    """The event and the change commit together: a refusal inside the transaction leaves no event."""
    store, desk = bench.store, await bench.actor("dgdaily-chief")
    reporter = await bench.actor("changan-reporter")
    topic = (
        await store.submit_topic(reporter, title="t", angle="", proposed_date="2026-06-01", platforms=[], links=[])
    ).value
    with pytest.raises(Invalid):  # changan is not a member of dragon-boat: refused after the draft insert began
        await store.topic_action(desk, topic.id, "approve", session="dragon-boat")
    assert (await store.topic(desk, topic.id)).status == "submitted"
    assert (await store.drafts(desk, "dragon-boat", Filters())).items == []


def channels(events: list[Event]) -> set[str]:
    return {e.channel for e in events}


async def test_events_carry_offsets_per_channel(bench: Bench) -> None:
    reporter = await bench.actor("humen-reporter")
    first = await bench.store.submit_topic(
        reporter, title="a", angle="", proposed_date="2026-06-01", platforms=[], links=[]
    )
    second = await bench.store.submit_topic(
        reporter, title="b", angle="", proposed_date="2026-06-01", platforms=[], links=[]
    )
    assert channels(first.events) == {"unit:humen", "duty"}
    offsets = {e.channel: e.offset for e in first.events}
    assert {e.channel: e.offset for e in second.events} == {c: o + 1 for c, o in offsets.items()}


async def test_a_new_task_reaches_its_recipients_and_the_assigners_own_channel(bench: Bench) -> None:
    """Recipients get ``task.assigned``; the assigner's ``user:`` channel gets ``task.created`` (their other
    tabs and devices), even when the assigner is one of the recipients."""
    commander = await bench.actor("dgdaily-commander")
    recipients = [Recipient("unit", "humen"), Recipient("user", "changan-editor"), Recipient("user", commander.id)]
    change = await bench.store.create_task(
        commander, title="防台", body="", priority="high", deadline_at=bench.clock.now + 60, recipients=recipients
    )
    assert sorted((e.type, e.channel) for e in change.events) == [
        ("task.assigned", "unit:humen"),
        ("task.assigned", "user:changan-editor"),
        ("task.assigned", "user:dgdaily-commander"),
        ("task.created", "user:dgdaily-commander"),
    ]
    expected = {"task": change.value.to_json(), "actor": "dgdaily-commander"}
    assert all(orjson.loads(e.data) == expected for e in change.events)
