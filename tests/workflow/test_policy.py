"""The roles policy, case by case on both backends: who may, who is refused (403) and who sees nothing (404).

Each case makes what it needs as a privileged user, then acts as the user
under test. ``None`` expected means the action succeeds.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import pytest

from rooms.workflow import Forbidden, NotFound, WorkflowError
from rooms.workflow_store import Filters, Recipient
from tests.workflow.bench import Bench

pytestmark = pytest.mark.asyncio(loop_scope="module")

Op = Callable[[Bench, str], Awaitable[object]]


async def a_session(b: Bench, owner: str = "dgdaily-chief", members: tuple[str, ...] = ("humen",)) -> str:
    change = await b.store.create_session(await b.actor(owner), title="策划", member_units=list(members))
    return change.value.id


async def a_draft(b: Bench) -> tuple[str, str]:
    session = await a_session(b)
    change = await b.store.create_draft(await b.actor("humen-editor"), session, title="稿", lead_unit="humen")
    return session, change.value.name


async def a_topic(b: Bench, returned: bool = False) -> int:
    change = await b.store.submit_topic(
        await b.actor("humen-reporter"), title="题", angle="", proposed_date="2026-06-01", platforms=[], links=[]
    )
    if returned:
        await b.store.topic_action(await b.actor("dgdaily-chief"), change.value.id, "return", reason="改")
    return change.value.id


HUMEN = Recipient("unit", "humen")


async def a_task(b: Bench, to: Recipient = HUMEN) -> tuple[int, int]:
    change = await b.store.create_task(
        await b.actor("dgdaily-commander"), title="任务", body="", priority="normal",
        deadline_at=b.clock.now + 60, recipients=[to],
    )  # fmt: skip
    return change.value.id, change.value.receipts[0].id


async def create_session(b: Bench, user: str) -> object:
    return await a_session(b, owner=user)


async def see_demo_session(b: Bench, user: str) -> object:
    return await b.store.session(await b.actor(user), "typhoon-drill")


async def close_session(b: Bench, user: str) -> object:
    session = await a_session(b)
    await b.store.session_action(await b.actor("dgdaily-chief"), session, "open")
    return await b.store.session_action(await b.actor(user), session, "close")


async def invite(b: Bench, user: str) -> object:
    return await b.store.invite(await b.actor(user), await a_session(b), ["changan"])


async def add_draft(b: Bench, user: str) -> object:
    return await b.store.create_draft(await b.actor(user), await a_session(b), title="稿", lead_unit="humen")


async def retitle_draft(b: Bench, user: str) -> object:
    session, name = await a_draft(b)
    return await b.store.update_draft(await b.actor(user), session, name, {"title": "新"})


async def submit_topic(b: Bench, user: str) -> object:
    actor = await b.actor(user)
    return await b.store.submit_topic(actor, title="题", angle="", proposed_date="2026-06-01", platforms=[], links=[])


async def see_topic(b: Bench, user: str) -> object:
    return await b.store.topic(await b.actor(user), await a_topic(b))


async def reject_topic(b: Bench, user: str) -> object:
    return await b.store.topic_action(await b.actor(user), await a_topic(b), "reject", reason="不做")


async def withdraw_topic(b: Bench, user: str) -> object:
    return await b.store.topic_action(await b.actor(user), await a_topic(b, returned=True), "withdraw")


async def dispatch(b: Bench, user: str, session: str | None = None) -> object:
    return await b.store.create_task(
        await b.actor(user), title="任务", body="", priority="low", deadline_at=b.clock.now + 60,
        recipients=[Recipient("unit", "changan")], session=session,
    )  # fmt: skip


async def dispatch_in_session(b: Bench, user: str) -> object:
    return await dispatch(b, user, "typhoon-drill")


async def see_task(b: Bench, user: str) -> object:
    task, _ = await a_task(b)
    return await b.store.task(await b.actor(user), task)


async def read_receipt(b: Bench, user: str) -> object:
    task, receipt = await a_task(b)
    return await b.store.receipt_action(await b.actor(user), task, receipt, "read")


async def acknowledge(b: Bench, user: str) -> object:
    task, receipt = await a_task(b)
    return await b.store.receipt_action(await b.actor(user), task, receipt, "acknowledge")


async def acknowledge_personal(b: Bench, user: str) -> object:
    task, receipt = await a_task(b, Recipient("user", "changan-editor"))
    return await b.store.receipt_action(await b.actor(user), task, receipt, "acknowledge")


async def cancel_task(b: Bench, user: str) -> object:
    task, _ = await a_task(b)
    return await b.store.task_action(await b.actor(user), task, "cancel", reason="取消")


async def every_task(b: Bench, user: str) -> object:
    return await b.store.tasks(await b.actor(user), "all", Filters())


async def set_rotation(b: Bench, user: str) -> object:
    # The same rotation every time, so the other cases see one duty unit: binhaiwan.
    return await b.store.put_rotation(await b.actor(user), units=["binhaiwan"], period="weekly", anchor_at=0.0)


CASES: list[tuple[Op, str, type[WorkflowError] | None]] = [
    (set_rotation, "humen-editor", Forbidden),
    (set_rotation, "dgdaily-commander", None),
    (set_rotation, "dgrtv-chief", None),
    (create_session, "humen-editor", None),
    (create_session, "humen-reporter", Forbidden),
    (create_session, "humen-viewer", Forbidden),
    (create_session, "dgdaily-admin", Forbidden),
    (see_demo_session, "humen-viewer", None),
    (see_demo_session, "gaobu-editor", NotFound),
    (see_demo_session, "dgrtv-chief", None),
    (see_demo_session, "dgdaily-commander", None),
    (close_session, "dgdaily-editor", None),
    (close_session, "dgdaily-reporter", Forbidden),
    (close_session, "humen-editor", Forbidden),
    (close_session, "dgrtv-chief", Forbidden),
    (close_session, "dgdaily-commander", None),
    (close_session, "gaobu-editor", NotFound),
    (invite, "dgdaily-duty", None),
    (invite, "humen-editor", Forbidden),
    (add_draft, "humen-reporter", None),
    (add_draft, "dgdaily-review2", None),
    (add_draft, "humen-viewer", Forbidden),
    (add_draft, "changan-editor", NotFound),
    (add_draft, "dgdaily-commander", None),
    (retitle_draft, "humen-editor", None),
    (retitle_draft, "dgdaily-editor", None),
    (retitle_draft, "humen-reporter", Forbidden),
    (retitle_draft, "dgdaily-review1", Forbidden),
    (submit_topic, "humen-reporter", None),
    (submit_topic, "humen-viewer", Forbidden),
    (submit_topic, "dgrelease-monitor", Forbidden),
    (see_topic, "humen-viewer", None),
    (see_topic, "changan-editor", NotFound),
    (see_topic, "dgrtv-editor", None),
    (see_topic, "binhaiwan-duty", None),
    (see_topic, "binhaiwan-editor", NotFound),
    (see_topic, "guancheng-duty", NotFound),
    (reject_topic, "dgdaily-chief", None),
    (reject_topic, "dgrtv-editor", None),
    (reject_topic, "dgrtv-duty", None),
    (reject_topic, "dgdaily-reporter", NotFound),
    (reject_topic, "humen-reporter", Forbidden),
    (reject_topic, "binhaiwan-duty", None),
    (reject_topic, "humen-editor", Forbidden),
    (reject_topic, "dgdaily-commander", None),
    (withdraw_topic, "humen-reporter", None),
    (withdraw_topic, "humen-viewer", Forbidden),
    (withdraw_topic, "dgdaily-chief", Forbidden),
    (dispatch, "dgdaily-commander", None),
    (dispatch, "dgdaily-chief", Forbidden),
    (dispatch_in_session, "dgdaily-editor", None),
    (dispatch_in_session, "dgdaily-duty", None),
    (dispatch_in_session, "dgdaily-reporter", Forbidden),
    (dispatch_in_session, "humen-editor", Forbidden),
    (see_task, "humen-viewer", None),
    (see_task, "dgdaily-commander", None),
    (see_task, "changan-editor", NotFound),
    (read_receipt, "humen-viewer", None),
    (acknowledge, "humen-reporter", None),
    (acknowledge, "humen-viewer", Forbidden),
    (acknowledge, "dgdaily-commander", Forbidden),
    (acknowledge_personal, "changan-editor", None),
    (acknowledge_personal, "changan-reporter", NotFound),
    (cancel_task, "dgdaily-commander", None),
    (cancel_task, "humen-editor", Forbidden),
    (every_task, "dgdaily-commander", None),
    (every_task, "dgdaily-chief", Forbidden),
]


@pytest.mark.parametrize(("op", "user", "expected"), CASES, ids=[f"{op.__name__}-{user}" for op, user, _ in CASES])
async def test_policy(shared: Bench, op: Op, user: str, expected: type[WorkflowError] | None) -> None:
    if expected is None:
        await op(shared, user)
        return
    with pytest.raises(expected):
        await op(shared, user)
