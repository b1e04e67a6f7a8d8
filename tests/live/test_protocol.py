"""``WS /live`` on a real socket: commands, clear errors, refusals, recovery answers.

Every frame either side sends is validated against ``schema/live.schema.json``
by ``LiveWS``.
"""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest

from tests.live.helpers import InProcessNode, LiveWS, hub_in_process

pytestmark = pytest.mark.timeout(60)


@pytest.mark.parametrize("raw_ws", [True, False], ids=["raw", "asgi-send"])
async def test_commands_and_answers_follow_the_schema(tmp_path: Path, raw_ws: bool) -> None:
    async with hub_in_process(tmp_path, raw_ws=raw_ws) as node, await node.client("humen-editor") as c:
        assert c.welcome["user"] == "humen-editor" and c.welcome["limits"]["max_command_bytes"] == 4096
        sub = await c.subscribe("unit:humen")
        assert sub["type"] == "subscribed" and sub["offset"] == 0 and "recovered" not in sub
        room = await c.subscribe("room:typhoon-drill")
        assert room["type"] == "subscribed"
        snapshot = await c.expect("presence", channel="room:typhoon-drill")
        assert snapshot["mode"] == "snapshot" and list(snapshot["users"]) == ["humen-editor"]

        news = {"channels": ["unit:humen"], "type": "dispatch.assigned", "data": {"稿件": "台风"}}
        answer = await node.publish([news], "k1")
        assert answer == {"duplicate": False, "events": [{"channel": "unit:humen", "epoch": sub["epoch"], "offset": 1}]}
        event = await c.expect("event", channel="unit:humen")
        assert (event["epoch"], event["offset"], event["event"], event["data"]) == (
            sub["epoch"],
            1,
            "dispatch.assigned",
            {"稿件": "台风"},
        )

        pid = await c.send(c.command("presence", channel="room:typhoon-drill", draft="d1", state="idle"))
        await c.expect("ack", id=pid)
        diff = await c.expect("presence", mode="diff")
        assert diff["users"]["humen-editor"]["sessions"][0] == {
            "id": c.welcome["session"],
            "draft": "d1",
            "state": "idle",
        }
        ping = await c.send(c.command("ping"))
        await c.expect("pong", id=ping)
        unsub = await c.send(c.command("unsubscribe", channel="unit:humen"))
        await c.expect("unsubscribed", id=unsub, channel="unit:humen")


MALFORMED = [
    ("garbage", "bad_json"),
    ("[1, 2]", "bad_json"),
    ('{"type": "launch", "id": 1}', "unknown_type"),
    ('{"id": 1}', "unknown_type"),
    ('{"type": "subscribe", "id": 1}', "bad_field"),
    ('{"type": "subscribe", "id": 1, "channel": "duty", "colour": "red"}', "bad_field"),
    ('{"type": "subscribe", "id": "1", "channel": "duty"}', "bad_field"),
    ('{"type": "subscribe", "id": 1.5, "channel": "duty"}', "bad_field"),
    ('{"type": "subscribe", "id": 0, "channel": "duty"}', "bad_field"),
    ('{"type": "subscribe", "id": 1, "channel": "room:../other"}', "bad_channel"),
    ('{"type": "subscribe", "id": 1, "channel": "room:ｔｙｐｈｏｏｎ"}', "bad_channel"),
    ('{"type": "subscribe", "id": 1, "channel": "room:a%2Fb"}', "bad_channel"),
    ('{"type": "subscribe", "id": 1, "channel": "unit:HUMEN"}', "bad_channel"),
    ('{"type": "subscribe", "id": 1, "channel": "duty:humen"}', "bad_channel"),
    ('{"type": "subscribe", "id": 1, "channel": "alerts:"}', "bad_channel"),
    ('{"type": "subscribe", "id": 1, "channel": "news:1"}', "bad_channel"),
    ('{"type": "subscribe", "id": 1, "channel": 7}', "bad_channel"),
    ('{"type": "subscribe", "id": 1, "channel": "duty", "since": {"epoch": "e"}}', "bad_field"),
    ('{"type": "subscribe", "id": 1, "channel": "duty", "since": {"epoch": "e", "offset": -1}}', "bad_field"),
    ('{"type": "subscribe", "id": 1, "channel": "duty", "since": {"epoch": "", "offset": 1}}', "bad_field"),
    ('{"type": "subscribe", "id": 1, "channel": "unit:humen", "presence": true}', "bad_field"),
    ('{"type": "presence", "id": 1, "channel": "unit:humen"}', "bad_field"),
    ('{"type": "presence", "id": 1, "channel": "room:typhoon-drill", "state": "asleep"}', "bad_field"),
    ('{"type": "presence", "id": 1, "channel": "room:typhoon-drill", "draft": "../x"}', "bad_field"),
]


async def test_malformed_and_oversized_commands_get_clear_errors(tmp_path: Path) -> None:
    async with hub_in_process(tmp_path, max_frame=64 * 1024) as node, await node.client("humen-editor") as c:
        for text, code in MALFORMED:
            await c.send_raw(text)
            error = await c.expect("error")
            assert error["code"] == code, (text, error)
            assert error["message"], text
        await c.send_raw(b'{"type": "ping", "id": 1}')
        assert (await c.expect("error"))["code"] == "binary"
        big = json.dumps({"type": "subscribe", "id": 1, "channel": "duty", "pad": "x" * 5000})
        await c.send_raw(big)
        error = await c.expect("error")
        assert error["code"] == "too_large" and "4096" in error["message"]
        # None of it closed the socket or used up an id.
        ping = await c.send(c.command("ping"))
        await c.expect("pong", id=ping)
        # A frame past the hub's frame limit is refused by the websocket layer.
        await c.send_raw("x" * (65 * 1024))
        assert await c.closed_with() == 1009


async def test_out_of_order_commands_get_clear_errors(tmp_path: Path) -> None:
    async with hub_in_process(tmp_path) as node, await node.client("humen-editor") as c:
        first = await c.subscribe("unit:humen")
        assert first["type"] == "subscribed"
        for stale in (first["id"], 0 + first["id"] - 1 or 1):
            await c.send_raw(json.dumps({"type": "ping", "id": stale}))
            error = await c.expect("error", id=stale)
            assert error["code"] == "out_of_order"
        again = await c.subscribe("unit:humen")
        assert again["code"] == "already_subscribed" and again["channel"] == "unit:humen"
        nid = await c.send(c.command("unsubscribe", channel="duty"))
        assert (await c.expect("error", id=nid))["code"] == "not_subscribed"
        pid = await c.send(c.command("presence", channel="room:typhoon-drill", state="idle"))
        assert (await c.expect("error", id=pid))["code"] == "not_subscribed"
        # A position from the future or from another epoch cannot be recovered: say so.
        ahead = await c.subscribe("alerts:humen", since={"epoch": "whatever", "offset": 5})
        assert ahead["type"] == "subscribed" and ahead["recovered"] is False and ahead["offset"] == 0
        same_epoch_ahead = await c.subscribe("user:humen-editor")
        assert same_epoch_ahead["type"] == "subscribed"
        await c.send(c.command("unsubscribe", channel="user:humen-editor"))
        await c.expect("unsubscribed", channel="user:humen-editor")
        future = await c.subscribe("user:humen-editor", since={"epoch": same_epoch_ahead["epoch"], "offset": 3})
        assert future["recovered"] is False and future["offset"] == 0
        # Commands sent back to back are answered in order, even behind a subscribe.
        ids = [await c.send(c.command("subscribe", channel="room:typhoon-drill", presence=False))]
        ids.append(await c.send(c.command("ping")))
        ids.append(await c.send(c.command("unsubscribe", channel="room:typhoon-drill")))
        answers = [await c.expect(kind) for kind in ("subscribed", "pong", "unsubscribed")]
        assert [a["id"] for a in answers] == ids


# (user, channel, allowed): every channel kind, refused and allowed.
RULES = [
    ("humen-editor", "room:typhoon-drill", True),
    ("humen-editor", "room:dragon-boat", False),  # humen is not a member unit
    ("humen-editor", "room:no-such-room", False),
    ("dgdaily-commander", "room:dragon-boat", True),
    ("humen-editor", "unit:humen", True),
    ("humen-editor", "unit:changan", False),
    ("dgdaily-commander", "unit:changan", True),
    ("dgdaily-commander", "unit:atlantis", False),  # no such unit
    ("humen-editor", "user:humen-editor", True),
    ("humen-editor", "user:changan-editor", False),
    ("dgdaily-admin", "user:humen-editor", False),
    ("humen-editor", "alerts", False),
    ("humen-viewer", "alerts", False),
    ("dgrelease-monitor", "alerts", True),
    ("dgdaily-duty", "alerts", True),
    ("humen-editor", "alerts:humen", True),
    ("humen-editor", "alerts:changan", False),
    ("dgrelease-monitor", "alerts:changan", True),
    ("humen-editor", "duty", False),
    ("dgrelease-monitor", "duty", False),
    ("songshanhu-duty", "duty", True),
    ("dgdaily-chief", "duty", True),
]


async def test_permission_rules_for_every_channel_kind(tmp_path: Path) -> None:
    async with hub_in_process(tmp_path) as node:
        clients: dict[str, LiveWS] = {}
        try:
            for user, channel, allowed in RULES:
                if user not in clients:
                    clients[user] = await node.client(user)
                answer = (
                    await clients[user].subscribe(channel, presence=False)
                    if channel.startswith("room:")
                    else await clients[user].subscribe(channel)
                )
                if allowed:
                    assert answer["type"] == "subscribed", (user, channel, answer)
                else:
                    assert (answer["type"], answer["code"]) == ("error", "forbidden"), (user, channel, answer)
                    assert channel in answer["message"]
            # A refused subscribe gets nothing of the channel.
            await node.publish(
                [
                    {"channels": ["unit:changan"], "type": "test.secret", "data": 1},
                    {"channels": ["unit:humen"], "type": "test.open", "data": 2},
                ],
                "rules",
            )
            event = await clients["humen-editor"].expect("event")
            assert event["channel"] == "unit:humen"
            # Each refusal is in the audit trail: who, what, and why.
            refused = {(u, f"/live/{c}") for u, c, allowed in RULES if not allowed}
            async with asyncio.timeout(10):
                while True:
                    trail = await node.hub.access.directory.audit_trail(action="refuse", limit=1000)
                    seen = {(r.event.actor, r.event.target) for r in trail}
                    if refused <= seen:
                        break
                    await asyncio.sleep(0.05)
        finally:
            for c in clients.values():
                await c.close()


async def test_a_room_that_drops_the_unit_drops_the_subscription(tmp_path: Path) -> None:
    from rooms.directory import Room

    async with hub_in_process(tmp_path, auth_check_interval=0.1) as node, await node.client("humen-editor") as c:
        assert (await c.subscribe("room:typhoon-drill"))["type"] == "subscribed"
        directory = node.hub.access.directory
        room = await directory.room("typhoon-drill")
        await directory.put_room(Room(room.id, room.title, room.owner_unit, room.member_units - {"humen"}))
        dropped = await c.expect("unsubscribed", channel="room:typhoon-drill")
        assert dropped["id"] is None and dropped["reason"] == "forbidden"


async def test_refused_connections(tmp_path: Path) -> None:
    from websockets.asyncio.client import connect
    from websockets.exceptions import InvalidStatus

    async with hub_in_process(tmp_path) as node:
        for url in (node.live_url(None), node.live_url(None, token="not-a-jwt")):
            with pytest.raises(InvalidStatus) as refused:
                async with connect(url, open_timeout=5):
                    pass
            assert refused.value.response.status_code == 401
        # A valid signature for a user the directory does not know: accepted, then 4403.
        c = LiveWS(node.live_url("nobody-at-all"))
        c.ws = await connect(c.url, open_timeout=5)
        assert await c.closed_with() == 4403


async def test_expired_tokens_and_disabled_users_are_closed(tmp_path: Path) -> None:
    import time

    from rooms.directory import AuditEvent
    from tests.live.helpers import mint

    async with hub_in_process(tmp_path, auth_check_interval=0.1) as node:
        short = LiveWS(f"ws://127.0.0.1:{node.port}/live?token={mint(node.data_dir, 'humen-editor', ttl=1.5)}")
        await short.open()
        assert (await short.subscribe("unit:humen"))["type"] == "subscribed"
        assert await short.closed_with() == 4401
        doomed = await node.client("changan-editor")
        assert (await doomed.subscribe("unit:changan"))["type"] == "subscribed"
        audit = AuditEvent("disable", time.time(), "dgdaily-admin", "dgdaily", None, "changan-editor")
        await node.hub.access.directory.set_disabled("changan-editor", True, audit)
        assert await doomed.closed_with() == 4403


async def test_a_flooding_client_is_closed_with_the_rate_limit_code(tmp_path: Path) -> None:
    async with hub_in_process(tmp_path, msg_rate=5.0) as node, await node.client("humen-editor") as c:
        for _ in range(40):  # the bucket holds 4 s of 5 messages per second
            await c.send_raw(json.dumps(c.command("ping")))
        assert await c.closed_with() == 4429


async def test_publish_endpoint_checks_and_idempotency(tmp_path: Path) -> None:
    import httpx

    async with hub_in_process(tmp_path) as node, httpx.AsyncClient(base_url=node.http, timeout=10) as http:
        good = {"events": [{"channels": ["duty"], "type": "duty.roster", "data": [1, 2]}]}
        auth = {"Authorization": "Bearer test-publish-key-0123456789abcdef-live"}

        async def post(body: object, **headers: str) -> httpx.Response:
            return await http.post("/live/publish", content=json.dumps(body), headers=headers)

        assert (await post(good, **{"Idempotency-Key": "x"})).status_code == 401
        assert (
            await post(good, Authorization="Bearer wrong-key-wrong-key-wrong-key-xx", **{"Idempotency-Key": "x"})
        ).status_code == 401
        assert (await post(good, **auth)).json()["error"]["code"] == "idempotency_key"
        for bad in ({"events": []}, {"events": good["events"], "more": 1}, [1]):
            response = await post(bad, **auth, **{"Idempotency-Key": "b"})
            assert response.status_code == 400, bad
        for event in (
            {"channels": ["room:../x"], "type": "a", "data": 1},
            {"channels": ["duty", "duty"], "type": "a", "data": 1},
            {"channels": ["duty"], "type": "Bad Type", "data": 1},
            {"channels": [], "type": "a", "data": 1},
            {"channels": ["duty"], "type": "a", "data": "x" * 70_000},
            {"channels": ["duty"], "type": "duty.handover", "data": {}},
        ):
            response = await post({"events": [event]}, **auth, **{"Idempotency-Key": "c"})
            assert (response.status_code, response.json()["error"]["code"]) == (422, "bad_event"), event
        first = await post(good, **auth, **{"Idempotency-Key": "same"})
        again = await post(good, **auth, **{"Idempotency-Key": "same"})
        assert (first.status_code, again.status_code) == (201, 200)
        assert again.json() == {**first.json(), "duplicate": True}
        other = {"events": [{"channels": ["duty"], "type": "duty.roster", "data": [3]}]}
        conflict = await post(other, **auth, **{"Idempotency-Key": "same"})
        assert (conflict.status_code, conflict.json()["error"]["code"]) == (409, "idempotency_conflict")
        # The retry published nothing: the channel holds one event.
        async with await node.client("dgdaily-duty") as c:
            sub = await c.subscribe("duty", since={"epoch": first.json()["events"][0]["epoch"], "offset": 0})
            assert (sub["recovered"], sub["missed"], sub["offset"]) == (True, 1, 0)
            assert (await c.expect("event"))["data"] == [1, 2]


async def test_publishing_is_off_without_keys(tmp_path: Path) -> None:
    import httpx

    async with hub_in_process(tmp_path, live_publish_keys="") as node, httpx.AsyncClient(timeout=10) as http:
        response = await http.post(
            f"{node.http}/live/publish",
            json={"events": []},
            headers={"Authorization": "Bearer x", "Idempotency-Key": "k"},
        )
        assert (response.status_code, response.json()["error"]["code"]) == (403, "publishing_off")


def _unused(node: InProcessNode) -> None:  # keeps the import used for type checkers
    del node
