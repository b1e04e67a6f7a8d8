"""End to end on a real ``tongpin serve`` (authentication on): workflow events reach the right users over
``WS /live``, the hosted jobs escalate and hand over, and a session's members and state reach open
``/yjs`` sockets; a scheduled session opens itself at its start, on each store backend."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from dataclasses import dataclass

import pytest

from tests.conftest import HubFactory, HubProcess
from tests.live.helpers import LiveWS
from tests.workflow.client import HUB_BACKENDS, Api, serve
from tests.ypy_client import YClient


@dataclass
class Node:
    hub: HubProcess
    api: Api

    async def live(self, user: str, *channels: str) -> LiveWS:
        """A /live socket of ``user``, subscribed to ``channels``."""
        client = await LiveWS(f"ws://127.0.0.1:{self.hub.port}/live?token={await self.api.token(user)}").open()
        for channel in channels:
            answer = await client.subscribe(channel)
            assert answer["type"] == "subscribed", answer
        return client

    async def yjs(self, user: str, session: str, draft: str) -> YClient:
        token = await self.api.token(user)
        client = YClient(f"ws://127.0.0.1:{self.hub.port}/yjs/{session}/{draft}?token={token}&stored=1")
        await client.connect()
        await client.wait_synced()
        return client


@pytest.fixture
async def node(hub_factory: HubFactory) -> AsyncIterator[Node]:
    hub = hub_factory(env={"TONGPIN_AUTH": "required", "TONGPIN_AUTH_CHECK_INTERVAL": "0.2"})
    api = Api(hub.http)
    try:
        yield Node(hub, api)
    finally:
        await api.close()


async def test_dispatch_reaches_recipients_and_the_assigner_and_nobody_else(node: Node) -> None:
    humen = await node.live("humen-editor", "unit:humen")
    commander = await node.live("dgdaily-commander", "user:dgdaily-commander")
    changan = await node.live("changan-editor", "city")
    refused = await changan.subscribe("unit:humen")
    assert refused["type"] == "error" and refused["code"] == "forbidden"
    task = await node.api.ok(
        "POST", "/api/tasks", "dgdaily-commander", 201,
        json={"title": "防台报送", "priority": "urgent", "deadline_at": time.time() + 3600,
              "recipients": [{"unit": "humen"}]},
    )  # fmt: skip
    assigned = await humen.expect("event", channel="unit:humen", event="task.assigned")
    assert assigned["data"]["task"]["id"] == task["id"] and assigned["data"]["actor"] == "dgdaily-commander"
    receipt = task["receipts"][0]["id"]
    await node.api.ok("POST", f"/api/tasks/{task['id']}/receipts/{receipt}/acknowledge", "humen-editor")
    updated = await commander.expect("event", channel="user:dgdaily-commander", event="receipt.updated")
    assert updated["data"]["receipt"]["status"] == "acknowledged" and updated["data"]["actor"] == "humen-editor"
    echoed = await humen.expect("event", channel="unit:humen", event="receipt.updated")
    assert echoed["offset"] == assigned["offset"] + 1, "the unit's channel numbers its events consecutively"
    # The hosted dispatch-escalation job: a task already past its deadline goes to the duty desk and commanders.
    late = await node.api.ok(
        "POST", "/api/tasks", "dgdaily-commander", 201,
        json={"title": "逾期", "deadline_at": time.time() - 1, "recipients": [{"unit": "changan"}]},
    )  # fmt: skip
    escalated = await commander.expect("event", within=20, channel="user:dgdaily-commander", event="task.escalated")
    assert escalated["data"]["task"]["id"] == late["id"] and escalated["data"]["receipt"]["escalated_at"] is not None
    for client in (humen, commander, changan):
        await client.close()


async def test_duty_handovers_reach_everyone_and_topics_reach_the_desk(node: Node) -> None:
    viewer = await node.live("gaobu-viewer", "city")
    desk = await node.live("dgdaily-duty", "duty")
    duty = await node.api.ok("GET", "/api/duty", "gaobu-viewer")
    other = next(u for u in duty["rotation"]["units"] if u != duty["current"]["unit"])
    await node.api.ok("PUT", "/api/duty/rotation", "dgdaily-chief", json={"units": [other], "period": "daily"})
    handover = await viewer.expect("event", channel="city", event="duty.handover")
    assert handover["data"]["handover"]["from_unit"] == duty["current"]["unit"]
    assert handover["data"]["handover"]["to_unit"] == other == handover["data"]["current"]["unit"]
    topic = await node.api.ok(
        "POST", "/api/topics", "humen-reporter", 201, json={"title": "渔港", "proposed_date": "2026-07-01"}
    )
    submitted = await desk.expect("event", channel="duty", event="topic.submitted")
    assert submitted["data"]["topic"]["id"] == topic["id"]
    for client in (viewer, desk):
        await client.close()


async def test_membership_and_state_reach_open_documents(node: Node) -> None:
    session = await node.api.ok(
        "POST", "/api/sessions", "dgdaily-editor", 201,
        json={"title": "联动", "member_units": ["humen", "changan"], "id": "e2e"},
    )  # fmt: skip
    assert session["status"] == "scheduled"
    humen = await node.yjs("humen-editor", "e2e", "main")
    changan = await node.yjs("changan-editor", "e2e", "main")
    room = await node.live("humen-editor", "room:e2e")

    await node.api.ok("DELETE", "/api/sessions/e2e/members/humen", "dgdaily-editor")
    await humen.wait_for(lambda: humen.close_code is not None, "humen's socket closed", within=10)
    assert humen.close_code == 4403
    dropped = await room.expect("unsubscribed", channel="room:e2e")
    assert dropped["reason"] == "forbidden"

    await node.api.ok("POST", "/api/sessions/e2e/open", "dgdaily-editor")
    await node.api.ok("POST", "/api/sessions/e2e/close", "dgdaily-editor")
    await changan.wait_for(lambda: changan.close_code is not None, "a writer reconnects after the close", within=10)
    assert changan.close_code == 4402
    reader = await node.yjs("changan-editor", "e2e", "main")
    reader.insert(0, "关门后")
    await reader.wait_for(lambda: reader.denied, "a write to a closed session's draft is refused")

    await node.api.ok("POST", "/api/sessions/e2e/reopen", "dgdaily-editor")
    await reader.wait_for(lambda: reader.close_code is not None, "a read-only socket reconnects after reopening")
    assert reader.close_code == 4402
    writer = await node.yjs("changan-editor", "e2e", "main")
    writer.insert(0, "重开")
    await writer.wait_for(lambda: writer.stored >= 1, "the write after reopening is stored")
    assert not writer.denied
    for client in (humen, changan, reader, writer):
        await client.close()
    await room.close()


@pytest.fixture(params=HUB_BACKENDS)
async def scheduling_node(request: pytest.FixtureRequest, hub_factory: HubFactory) -> AsyncIterator[Node]:
    env = {"TONGPIN_AUTH": "required", "TONGPIN_SESSION_SCHEDULE_INTERVAL": "0.2"}
    async with serve(hub_factory, request.param, env) as (hub, api):
        yield Node(hub, api)


async def test_a_scheduled_session_opens_itself_when_its_start_comes(scheduling_node: Node) -> None:
    node = scheduling_node
    owner = await node.live("dgdaily-editor", "unit:dgdaily")
    member = await node.live("humen-editor", "unit:humen")
    starts_at = time.time() + 1
    body = {"title": "早班会", "member_units": ["humen"], "id": "dawn", "starts_at": starts_at}
    session = await node.api.ok("POST", "/api/sessions", "dgdaily-editor", 201, json=body)
    assert session["status"] == "scheduled"
    later = {"title": "晚班会", "id": "dusk", "starts_at": time.time() + 3600}
    await node.api.ok("POST", "/api/sessions", "dgdaily-editor", 201, json=later)
    for client, channel in ((owner, "unit:dgdaily"), (member, "unit:humen")):
        opened = await client.expect("event", within=20, channel=channel, event="session.opened")
        assert opened["data"]["session"]["id"] == "dawn" and opened["data"]["session"]["status"] == "open"
        assert opened["data"]["actor"] is None and opened["data"]["reason"] == "scheduled start"
    assert time.time() >= starts_at, "not before its start"
    assert (await node.api.ok("GET", "/api/sessions/dawn", "dgdaily-editor"))["status"] == "open"
    assert (await node.api.ok("GET", "/api/sessions/dusk", "dgdaily-editor"))["status"] == "scheduled"
    for client in (owner, member):
        await client.close()
