"""Live channel events reach a Hocuspocus provider as stateless messages on its editing socket.

Events are published through ``POST /live/publish`` (a trusted service);
the provider subscribes with a stateless JSON command on an open document,
under the same rules as ``/live`` (``rooms.channels.authorize``), and
resumes exactly from ``since`` after an unsubscribe.
"""

from __future__ import annotations

import json

import pytest

from tests.hocuspocus.conftest import ROOM, AuthHub, HocusFactory
from tests.live.helpers import Node

pytestmark = pytest.mark.node

A, B = f"{ROOM}/desk-a", f"{ROOM}/desk-b"


async def test_events_arrive_as_stateless_messages(auth_hub: AuthHub, hp_clients: HocusFactory) -> None:
    node = Node(auth_hub.proc.data_dir, auth_hub.proc.port)
    client = await hp_clients("desk")
    await client.socket(auth_hub.url)
    token = auth_hub.token("dgdaily-editor")
    for doc in (A, B):
        await client.open(doc, token)
        await client.wait_doc("synced", doc)

    command = {"type": "subscribe", "id": 1, "channels": ["unit:dgdaily", "user:dgdaily-editor", "alerts"]}
    await client.stateless(A, json.dumps(command))
    unit = await client.wait_doc("stateless", A, {"type": "subscribed", "channel": "unit:dgdaily", "id": 1})
    await client.wait_doc("stateless", A, {"type": "subscribed", "channel": "user:dgdaily-editor", "id": 1})
    refused = await client.wait_doc("stateless", A, {"type": "error", "channel": "alerts", "code": "forbidden"})
    assert refused["doc"]["stateless"][-1]["id"] == 1
    start = next(m for m in unit["doc"]["stateless"] if m.get("channel") == "unit:dgdaily")
    epoch, offset = start["epoch"], start["offset"]

    await node.publish(
        [{"channels": ["unit:dgdaily"], "type": "dispatch.assigned", "data": {"稿件": "台风快讯"}}], "k1"
    )
    event = {
        "type": "event",
        "channel": "unit:dgdaily",
        "epoch": epoch,
        "offset": offset + 1,
        "event_type": "dispatch.assigned",
        "data": {"稿件": "台风快讯"},
    }
    await client.wait_doc("stateless", A, event)

    # One event on two channels: one message per channel, on the document that subscribed.
    await node.publish([{"channels": ["unit:dgdaily", "user:dgdaily-editor"], "type": "review.done", "data": 2}], "k2")
    await client.wait_doc("stateless", A, {"type": "event", "channel": "user:dgdaily-editor", "data": 2})
    await client.wait_doc("stateless", A, {"type": "event", "channel": "unit:dgdaily", "offset": offset + 2})
    assert not [m for m in (await client.doc(B))["stateless"] if m["type"] == "event"]

    # A room channel on the other document of the same socket.
    await client.stateless(B, json.dumps({"type": "subscribe", "channels": [f"room:{ROOM}"]}))
    await client.wait_doc("stateless", B, {"type": "subscribed", "channel": f"room:{ROOM}"})
    await node.publish([{"channels": [f"room:{ROOM}"], "type": "topic.created", "data": {"题": "防汛"}}], "k3")
    await client.wait_doc("stateless", B, {"type": "event", "channel": f"room:{ROOM}", "event_type": "topic.created"})

    # Bad commands are answered, and close nothing.
    for payload, code in (
        ("不是JSON", "bad_json"),
        ('{"type": "presence"}', "unknown_type"),
        ('{"type": "subscribe", "channels": []}', "bad_field"),
        ('{"type": "subscribe", "channels": ["room:../x"]}', "bad_channel"),
        ('{"type": "subscribe", "channels": ["unit:dgdaily"]}', "already_subscribed"),
        ('{"type": "unsubscribe", "channels": ["duty"]}', "not_subscribed"),
    ):
        await client.stateless(A, payload)
        await client.wait_doc("stateless", A, {"type": "error", "code": code})

    # Unsubscribe, miss two events, resubscribe from the last offset seen: exactly those two, then live.
    await client.stateless(A, json.dumps({"type": "unsubscribe", "id": 7, "channels": ["unit:dgdaily"]}))
    await client.wait_doc("stateless", A, {"type": "unsubscribed", "channel": "unit:dgdaily", "id": 7})
    for n in (3, 4):
        await node.publish([{"channels": ["unit:dgdaily"], "type": "dispatch.assigned", "data": n}], f"k{n + 1}")
    since = {"unit:dgdaily": {"epoch": epoch, "offset": offset + 2}}
    await client.stateless(A, json.dumps({"type": "subscribe", "channels": ["unit:dgdaily"], "since": since}))
    await client.wait_doc("stateless", A, {"type": "subscribed", "channel": "unit:dgdaily", "recovered": True})
    await node.publish([{"channels": ["unit:dgdaily"], "type": "dispatch.assigned", "data": 5}], "k6")
    await client.wait_doc("stateless", A, {"type": "event", "channel": "unit:dgdaily", "data": 5})
    unit_events = [m for m in (await client.doc(A))["stateless"] if m.get("channel") == "unit:dgdaily"]
    offsets = [m["offset"] for m in unit_events if m["type"] == "event"]
    assert offsets == [offset + 1, offset + 2, offset + 3, offset + 4, offset + 5], "exactly once, in order"
    assert [m["data"] for m in unit_events if m["type"] == "event"][2:] == [3, 4, 5]

    report = await client.report()
    assert report["connections"] == 1 and report["closes"] == []
    metrics = await auth_hub.proc.metrics()
    assert metrics["tongpin_hocuspocus_events_total"] >= 7


async def test_closing_a_document_ends_its_subscriptions(auth_hub: AuthHub, hp_clients: HocusFactory) -> None:
    node = Node(auth_hub.proc.data_dir, auth_hub.proc.port)
    client = await hp_clients("closer")
    await client.socket(auth_hub.url)
    doc = f"{ROOM}/desk-c"
    await client.open(doc, auth_hub.token("dgdaily-chief"))
    await client.wait_doc("synced", doc)
    await client.stateless(doc, json.dumps({"type": "subscribe", "channels": ["alerts"]}))
    await client.wait_doc("stateless", doc, {"type": "subscribed", "channel": "alerts"})
    before = (await auth_hub.proc.metrics())["tongpin_live_channels"]
    await client.close_doc(doc)
    await auth_hub.proc.wait_metric("tongpin_live_channels", lambda v: v == before - 1, "the alerts feed dropped")
    await auth_hub.proc.wait_metric("tongpin_hocuspocus_documents", lambda v: v == 0, "no documents open")
    await node.publish([{"channels": ["alerts"], "type": "alert.raised", "data": {}}], "closer-1")
    # Reopened on the same socket: a fresh document, with no subscriptions left over.
    await client.open(doc, auth_hub.token("dgdaily-chief"))
    await client.wait_doc("synced", doc)
    assert not [m for m in (await client.doc(doc))["stateless"] if m["type"] == "event"]
