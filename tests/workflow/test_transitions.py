"""Every (state, action) of every state machine, applied through the store on both backends.

For each entity, a fresh thing is driven into each state by a path of legal
actions, then each action is tried: a transition the table allows lands in
its state, with its event and audit row; any other is refused with
``IllegalTransition`` naming the state and the allowed actions, and changes
nothing.
"""

from __future__ import annotations

import itertools
from collections.abc import Awaitable, Callable
from typing import Any

import pytest

from rooms.workflow import RECEIPT, SESSION, TASK, TOPIC, IllegalTransition, Machine, Receipt
from rooms.workflow_store import Change, Recipient
from tests.workflow.bench import Bench

pytestmark = pytest.mark.asyncio(loop_scope="module")


def cases(machine: Machine) -> list[tuple[str, str]]:
    return list(itertools.product(machine.states, machine.actions))


async def drive(
    machine: Machine,
    paths: dict[str, list[str]],
    state: str,
    action: str,
    act: Callable[[str], Awaitable[Change[Any]]],
    read: Callable[[], Awaitable[Any]],
) -> tuple[Change[Any] | None, Any]:
    """Take a fresh thing to ``state`` along its path (legal steps), then try ``action``: it is applied or refused as
    ``machine``'s table says, and the thing (``read``) is in the state the table gives, unchanged when refused.
    The change (None if refused) and the thing after it."""
    for step in paths[state]:
        await act(step)
    assert (await read()).status == state
    if (state, action) in machine.transitions:
        change: Change[Any] | None = await act(action)
    else:
        with pytest.raises(IllegalTransition) as refused:
            await act(action)
        assert refused.value.state == state and refused.value.allowed == machine.allowed(state)
        change = None
    after = await read()
    assert after.status == (state if change is None else machine.transitions[(state, action)])
    return change, after


# -- sessions -----------------------------------------------------------------------

SESSION_PATHS = {
    "scheduled": [],
    "open": ["open"],
    "closed": ["open", "close"],
    "archived": ["open", "close", "archive"],
}
SESSION_PAST = {"open": "opened", "close": "closed", "reopen": "reopened", "archive": "archived"}


@pytest.mark.parametrize(("state", "action"), cases(SESSION))
async def test_session(shared: Bench, state: str, action: str) -> None:
    store, boss = shared.store, await shared.actor("dgdaily-chief")
    session = (await store.create_session(boss, title="测试", member_units=["humen"])).value
    change, _ = await drive(
        SESSION,
        SESSION_PATHS,
        state,
        action,
        lambda step: store.session_action(boss, session.id, step),
        lambda: store.session(boss, session.id),
    )
    if change is None:
        return
    assert {e.type for e in change.events} == {f"session.{SESSION_PAST[action]}"}
    assert {e.channel for e in change.events} == {f"room:{session.id}", "unit:dgdaily", "unit:humen"}
    audited = await shared.audit("session", session.id)
    assert audited[-1].event.detail["action"] == action and audited[-1].event.actor == boss.id


# -- topics ---------------------------------------------------------------------------

TOPIC_PATHS = {
    "submitted": [],
    "approved": ["approve"],
    "returned": ["return"],
    "merged": ["merge"],
    "rejected": ["reject"],
    "withdrawn": ["return", "withdraw"],
}


@pytest.mark.parametrize(("state", "action"), cases(TOPIC))
async def test_topic(shared: Bench, state: str, action: str) -> None:
    store = shared.store
    reporter, desk = await shared.actor("humen-reporter"), await shared.actor("dgdaily-chief")

    async def submit(title: str) -> int:
        change = await store.submit_topic(
            reporter, title=title, angle="", proposed_date="2026-06-01", platforms=["app"], links=[]
        )
        return change.value.id

    topic, other = await submit("渔船回港"), await submit("另一个题")

    def act(step: str) -> Awaitable[Change[Any]]:
        actor = reporter if step in ("resubmit", "withdraw") else desk
        return store.topic_action(
            actor, topic, step, reason="理由", session="typhoon-drill", into=other, edits={"title": "改"}
        )

    change, after = await drive(TOPIC, TOPIC_PATHS, state, action, act, lambda: store.topic(desk, topic))
    if change is None:
        return
    assert after.history is not None and after.history[-1].action == action
    assert {"unit:humen", "duty"} <= {e.channel for e in change.events}
    # Each event is named after the state the topic reached; a resubmitted topic is submitted again.
    assert ("topic.resubmitted" if action == "resubmit" else f"topic.{after.status}") in {e.type for e in change.events}
    if action == "approve":
        assert after.session == "typhoon-drill" and after.draft is not None
        assert (await store.draft(desk, "typhoon-drill", after.draft)).lead_unit == "humen"
        assert "draft.created" in {e.type for e in change.events}
    if action == "merge":
        assert after.merged_into == other
    if action == "resubmit":
        assert after.title == "改"
    audited = await shared.audit("topic", f"topic/{topic}")
    assert audited[-1].event.detail == {
        "action": action, "from": state, "to": after.status, "reason": "理由"
    }  # fmt: skip


# -- tasks ------------------------------------------------------------------------------

TASK_PATHS = {"open": [], "completed": ["complete"], "cancelled": ["cancel"]}


async def new_task(bench: Bench) -> int:
    commander = await bench.actor("dgdaily-commander")
    change = await bench.store.create_task(
        commander,
        title="报送防台准备",
        body="",
        priority="high",
        deadline_at=bench.clock.now + 3600,
        recipients=[Recipient("unit", "humen"), Recipient("user", "changan-editor")],
    )
    return change.value.id


@pytest.mark.parametrize(("state", "action"), cases(TASK))
async def test_task(shared: Bench, state: str, action: str) -> None:
    store, commander = shared.store, await shared.actor("dgdaily-commander")
    task_id = await new_task(shared)
    first = (await store.task(commander, task_id)).receipts[0].id

    def act(step: str) -> Awaitable[Change[Any]]:
        return store.task_action(
            commander, task_id, step, reason="理由", receipt=first, to=Recipient("unit", "shatian")
        )

    change, after = await drive(TASK, TASK_PATHS, state, action, act, lambda: store.task(commander, task_id))
    if change is None:
        return
    channels = {e.channel for e in change.events}
    assert {"user:dgdaily-commander", "unit:humen", "user:changan-editor"} <= channels
    if action == "reassign":
        assert [r.status for r in after.receipts] == ["reassigned", "delivered", "delivered"]
        assert after.receipts[-1].unit == "shatian" and "unit:shatian" in channels
        assert {"task.reassigned", "task.assigned"} <= {e.type for e in change.events}
    audited = await shared.audit("task", f"task/{task_id}")
    assert audited[-1].event.detail["action"] == action


# -- receipts ---------------------------------------------------------------------------------

RECEIPT_PATHS = {
    "delivered": [],
    "read": ["read"],
    "acknowledged": ["acknowledge"],
    "accepted": ["acknowledge", "accept"],
    "declined": ["decline"],
    "reassigned": ["reassign"],
}


@pytest.mark.parametrize(("state", "action"), cases(RECEIPT))
async def test_receipt(shared: Bench, state: str, action: str) -> None:
    store = shared.store
    commander, recipient = await shared.actor("dgdaily-commander"), await shared.actor("humen-editor")
    task_id = await new_task(shared)
    receipt = (await store.task(commander, task_id)).receipts[0].id
    to = iter(Recipient("unit", u) for u in ("shatian", "changan"))

    def act(step: str) -> Awaitable[Change[Any]]:
        if step == "reassign":
            return store.task_action(commander, task_id, "reassign", reason="换人", receipt=receipt, to=next(to))
        return store.receipt_action(recipient, task_id, receipt, step, reason="理由")

    async def read() -> Receipt:
        found = (await store.task(commander, task_id)).receipt(receipt)
        assert found is not None
        return found

    change, found = await drive(RECEIPT, RECEIPT_PATHS, state, action, act, read)
    if change is None:
        return
    if action != "reassign":
        assert {e.channel for e in change.events} == {"user:dgdaily-commander", "unit:humen"}
        assert {e.type for e in change.events} == {"receipt.updated"}
        audited = await shared.audit("receipt", f"task/{task_id}/receipt/{receipt}")
        assert audited[-1].event.detail["action"] == action
    if action in ("accept", "decline"):
        assert found.acknowledged_at is not None and found.decided_at == shared.clock.now
    if action == "decline":
        assert found.reason == "理由"


@pytest.mark.parametrize("closing", ["complete", "cancel"])
async def test_receipts_do_not_change_once_the_task_is_closed(shared: Bench, closing: str) -> None:
    store = shared.store
    commander, recipient = await shared.actor("dgdaily-commander"), await shared.actor("humen-editor")
    task_id = await new_task(shared)
    receipt = (await store.task(commander, task_id)).receipts[0].id
    await store.task_action(commander, task_id, closing, reason="结束")
    with pytest.raises(IllegalTransition) as refused:
        await store.receipt_action(recipient, task_id, receipt, "acknowledge")
    assert refused.value.allowed == [] and "the task is" in str(refused.value)
