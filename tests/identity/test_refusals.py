"""Refusal paths against a real hub process: each is refused, and the audit trail says so.

Demo data: ``humen`` is a member unit of ``typhoon-drill`` (owned by
``dgdaily``) but not of ``dragon-boat``; ``gaobu`` is a member of neither.
"""

from __future__ import annotations

import asyncio
import socket
import time
from typing import Any

import jwt
import pytest
from pycrdt import Text
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed

from rooms import codec
from rooms.awareness import AwarenessEntry, decode_awareness, encode_awareness
from schema.close_codes import CloseCode
from tests.identity.hubproc import HubProcess, audited, close_code, eventually, upgrade_refused
from tests.identity.test_fuzz import YRS_PANIC
from tests.waiting import wait_until
from tests.ypy_client import YClient


def text_of(client: YClient) -> str:
    return str(client.doc.get("t", type=Text))


# -- before the upgrade: origin and token ---------------------------------------


async def test_missing_token_is_refused_before_the_upgrade(hub: HubProcess) -> None:
    status, body = await upgrade_refused(hub.ws("/yjs/typhoon-drill/d1"))
    assert (status, body["error"]["code"]) == (401, "token_missing")
    event = await audited(hub, action="refuse", target="/yjs/typhoon-drill/d1", detail={"reason": "token_missing"})
    assert event["actor"] is None and event["client"] == "127.0.0.1" and event["at"] > 0


@pytest.mark.parametrize(
    "forge",
    [
        pytest.param(lambda claims, secret: jwt.encode(claims, b"k" * 48, algorithm="HS256"), id="bad-signature"),
        pytest.param(lambda claims, secret: jwt.encode(claims, None, algorithm="none"), id="alg-none"),
        pytest.param(lambda claims, secret: jwt.encode(claims, secret, algorithm="HS512"), id="alg-hs512"),
        pytest.param(lambda claims, secret: jwt.encode(claims, secret, algorithm="HS256")[:-4] + "AAAA", id="tampered"),
        pytest.param(lambda claims, secret: "x" * 5000, id="oversized"),
    ],
)
async def test_forged_tokens_are_refused(hub: HubProcess, forge: Any) -> None:
    claims = {"sub": "dgdaily-admin", "name": "x", "unit": "dgdaily", "roles": ["admin"], "exp": int(time.time()) + 600}
    token = forge(claims, hub.secret)
    path = f"/yjs/typhoon-drill/forged{len(token)}"
    status, body = await upgrade_refused(hub.ws(path, token))
    assert (status, body["error"]["code"]) == (401, "token_invalid")
    # The API refuses the same token the same way.
    response = await hub.api("GET", "/api/me", token)
    assert response.status_code == 401 and response.json()["error"]["code"] == "token_invalid"
    event = await audited(hub, action="refuse", target=path, detail={"reason": "token_invalid"})
    assert event["actor"] is None  # an unverified subject is never recorded as the actor


async def test_expired_token_is_refused(hub: HubProcess) -> None:
    token = hub.token("humen-editor", ttl=-30)
    status, body = await upgrade_refused(hub.ws("/yjs/typhoon-drill/expired", token))
    assert (status, body["error"]["code"]) == (401, "token_expired")
    event = await audited(hub, action="refuse", target="/yjs/typhoon-drill/expired", detail={"reason": "token_expired"})
    assert event["actor"] == "humen-editor"  # the signature was good, so the subject is known


async def test_origin_allow_list(hub: HubProcess) -> None:
    token = hub.token("humen-editor")
    url = hub.ws("/yjs/typhoon-drill/origin", token)
    status, body = await upgrade_refused(url, origin="http://evil.example")
    assert (status, body["error"]["code"]) == (403, "origin_not_allowed")
    await audited(hub, action="refuse", target="/yjs/typhoon-drill/origin", detail={"reason": "origin_not_allowed"})
    for origin in (f"http://127.0.0.1:{hub.port}", None):  # the hub's own pages; a non-browser client
        async with connect(url, origin=origin) as ws:  # type: ignore[arg-type]
            assert await ws.recv() == codec.sync_step1(b"\x00")


# -- after the upgrade: who may open what ----------------------------------------


async def test_wrong_unit_is_refused(hub: HubProcess) -> None:
    assert await close_code(hub.ws("/yjs/typhoon-drill/d1", hub.token("gaobu-editor"))) == CloseCode.FORBIDDEN
    assert await close_code(hub.ws("/yjs/dragon-boat/d1", hub.token("humen-editor"))) == CloseCode.FORBIDDEN
    assert await close_code(hub.ws("/yjs/no-such-room/d1", hub.token("humen-editor"))) == CloseCode.FORBIDDEN
    event = await audited(hub, action="refuse", actor="gaobu-editor", target="typhoon-drill/d1")
    assert event["unit"] == "gaobu" and event["detail"]["code"] == CloseCode.FORBIDDEN
    await audited(hub, action="refuse", actor="humen-editor", target="dragon-boat/d1")


async def test_unknown_user_is_refused(hub: HubProcess) -> None:
    assert await close_code(hub.ws("/yjs/typhoon-drill/d1", hub.token("nobody-here"))) == CloseCode.FORBIDDEN
    await audited(hub, action="refuse", actor="nobody-here", detail={"reason": "unknown user"})


# Paths that try to reach the dragon-boat room (humen is not a member) or escape the name rules.
PATH_TRICKS = [
    "/yjs/typhoon-drill/../dragon-boat",
    "/yjs/typhoon-drill/..%2F..%2Fdragon-boat%2Fd1",
    "/yjs/typhoon-drill%2F..%2Fdragon-boat/d1",
    "/yjs/%2e%2e/dragon-boat",
    "/yjs/typhoon-drill/%2e%2e%2fdragon-boat",
    "/yjs/typhoon-drill/d1%00",
    "/yjs/typhoon-drill/d1%2F..",
    "/yjs/dragon%E2%80%90boat/d1",  # U+2010 HYPHEN
    "/yjs/typhoon-dri%D0%86l/d1",  # Cyrillic capital I
    "/yjs/%EF%BD%84ragon-boat/d1",  # FULLWIDTH d
    "/yjs/typhoon%E2%80%8B-drill/d1",  # ZERO WIDTH SPACE
    "/yjs/typhoon-drill/d1/extra",
    "/yjs/typhoon-drill/.hidden",
]


@pytest.mark.parametrize("path", PATH_TRICKS)
async def test_path_tricks_are_refused(hub: HubProcess, path: str) -> None:
    token = hub.token("humen-editor")
    assert await close_code(hub.ws(path, token)) == CloseCode.BAD_NAME
    await audited(hub, action="refuse", actor="humen-editor", target=path, detail={"reason": "bad_name"})


def test_raw_unicode_look_alike_in_the_request_line_is_refused(hub: HubProcess) -> None:
    token = hub.token("humen-editor")
    request = (
        f"GET /yjs/dragon\u2010boat/d1?token={token} HTTP/1.1\r\nHost: 127.0.0.1:{hub.port}\r\n"
        "Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
        "Sec-WebSocket-Version: 13\r\n\r\n"
    ).encode()
    with socket.create_connection(("127.0.0.1", hub.port), timeout=10) as sock:
        sock.sendall(request)
        status_line = sock.recv(4096).split(b"\r\n", 1)[0]
    assert status_line and b" 101 " not in status_line, status_line


# -- read-only users --------------------------------------------------------------


async def test_read_only_writes_are_denied_and_never_applied(hub: HubProcess) -> None:
    url = "/yjs/typhoon-drill/readonly"
    editor = await YClient(hub.ws(url, hub.token("humen-editor"))).connect()
    viewer = await YClient(hub.ws(url, hub.token("humen-viewer"))).connect()
    try:
        async with asyncio.timeout(10):
            await editor.synced.wait()
            await viewer.synced.wait()
        editor.doc.get("t", type=Text).insert(0, "同频")
        await wait_until(lambda: text_of(viewer) == "同频", within=10)

        viewer.doc.get("t", type=Text).insert(0, "篡改")  # the viewer's own copy diverges
        await wait_until(lambda: viewer.denied, within=10)
        assert viewer.denied[0].startswith("read-only")

        # Still receives updates and awareness.
        text = editor.doc.get("t", type=Text)
        text.insert(len(text), "新闻")  # pycrdt's Text offsets are UTF-8 bytes: append at the end
        await wait_until(lambda: "新闻" in text_of(viewer), within=10)
        entry = AwarenessEntry(4242, 1, '{"user":{"name":"朱雅婷"}}')
        assert editor.ws is not None
        await editor.ws.send(codec.awareness_message(encode_awareness([entry])))
        await wait_until(lambda: any(e.client_id == 4242 for p in viewer.awareness for e in decode_awareness(p)), 10)

        # Never applied: the editor and a fresh reader see only the editor's text.
        fresh = await YClient(hub.ws(url, hub.token("humen-reporter"))).connect()
        async with asyncio.timeout(10):
            await fresh.synced.wait()
        assert text_of(fresh) == text_of(editor) == "同频新闻"
        await fresh.close()
    finally:
        await editor.close()
        await viewer.close()
    event = await audited(hub, action="refuse", actor="humen-viewer", target="typhoon-drill/readonly")
    assert event["detail"]["reason"] == "read_only"
    await audited(hub, action="join", actor="humen-viewer", target="typhoon-drill/readonly", detail={"read_only": True})
    leave = await audited(hub, action="leave", actor="humen-viewer", target="typhoon-drill/readonly")
    assert leave["detail"]["denied"] >= 1


# -- during a connection ----------------------------------------------------------


async def test_token_expiring_during_the_connection_closes_with_authenticate_again(hub: HubProcess) -> None:
    token = hub.token("changan-editor", ttl=2)
    assert await close_code(hub.ws("/yjs/typhoon-drill/expiring", token)) == CloseCode.AUTH_EXPIRED
    event = await audited(hub, action="revoke", actor="changan-editor", target="typhoon-drill/expiring")
    assert event["detail"] == {"reason": "token_expired", "code": CloseCode.AUTH_EXPIRED}


async def test_connections_per_user_are_limited(hub: HubProcess) -> None:
    url = hub.ws("/yjs/typhoon-drill/many", hub.token("changan-reporter"))
    sockets = [await connect(url) for _ in range(3)]  # the test hub allows 3
    try:
        for ws in sockets:
            assert await ws.recv()  # joined: the hub's sync step 1
        assert await close_code(url) == CloseCode.TOO_MANY_CONNECTIONS
        await sockets.pop().close()

        async def admitted() -> bool:
            async with connect(url) as ws:
                try:
                    return bool(await asyncio.wait_for(ws.recv(), 5))
                except ConnectionClosed:
                    return False

        assert await eventually(admitted)  # the hub saw the close, a slot is free again
    finally:
        for ws in sockets:
            await ws.close()
    await audited(hub, action="refuse", actor="changan-reporter", detail={"code": CloseCode.TOO_MANY_CONNECTIONS})


async def test_message_flood_is_closed_with_rate_limited(hub: HubProcess) -> None:
    async with connect(hub.ws("/yjs/typhoon-drill/flood", hub.token("shatian-reporter"))) as ws:
        await ws.recv()
        with pytest.raises(ConnectionClosed) as closed:
            async with asyncio.timeout(10):
                for _ in range(2000):  # the test hub allows 50 a second, 200 at once
                    await ws.send(b"\x03")  # query awareness: tiny, but answered to the sender
                while True:
                    await ws.recv()
        assert closed.value.rcvd is not None and closed.value.rcvd.code == CloseCode.RATE_LIMITED
    event = await audited(hub, action="refuse", actor="shatian-reporter", target="typhoon-drill/flood")
    assert event["detail"]["reason"] == "rate_limited"
    await audited(hub, action="leave", actor="shatian-reporter", detail={"code": CloseCode.RATE_LIMITED})


async def test_tokens_never_reach_the_log(hub: HubProcess) -> None:
    async with connect(hub.ws("/yjs/typhoon-drill/logged", hub.token("humen-editor"))) as ws:
        await ws.recv()
    await upgrade_refused(hub.ws("/yjs/typhoon-drill/logged", hub.token("humen-editor", ttl=-5)))
    await hub.api("GET", "/api/me", "not-a-token")
    await wait_until(lambda: "/yjs/typhoon-drill/logged?token=[redacted]" in hub.log(), within=10)
    assert "eyJ" not in hub.log()  # every JWT starts with eyJ (base64 of '{"')


async def test_an_update_that_made_yrs_panic_closes_only_its_sender(hub: HubProcess) -> None:
    url = "/yjs/typhoon-drill/panic"
    bystander = await YClient(hub.ws(url, hub.token("humen-reporter"))).connect()
    try:
        async with asyncio.timeout(10):
            await bystander.synced.wait()
        async with connect(hub.ws(url, hub.token("humen-editor"))) as ws:
            for frame in YRS_PANIC:
                await ws.send(frame)
            with pytest.raises(ConnectionClosed) as closed:
                async with asyncio.timeout(10):
                    while True:
                        await ws.recv()
            assert closed.value.rcvd is not None and closed.value.rcvd.code == CloseCode.BAD_UPDATE
        bystander.doc.get("t", type=Text).insert(0, "照常")
        fresh = await YClient(hub.ws(url, hub.token("changan-reporter"))).connect()
        async with asyncio.timeout(10):
            await fresh.synced.wait()
        await wait_until(lambda: "照常" in text_of(fresh), within=10)
        await fresh.close()
    finally:
        await bystander.close()
