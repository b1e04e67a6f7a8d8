"""Rights that end during a connection, across two hub nodes sharing one database.

The nodes are two processes on one SQLite file (the embedded store is single
node for documents; here only the directory is shared, which is what the
revocation poll reads). No broker is involved: each node polls the
directory's changes.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from typing import Any

import pytest
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

from rooms import codec
from rooms.directory import Room
from rooms.seed import demo_rooms
from rooms.sqlite_directory import SqliteDirectory
from schema.close_codes import CloseCode
from tests.identity.hubproc import HubProcess, close_code, eventually

ENV = {"TONGPIN_AUTH_CHECK_INTERVAL": "1.0"}


@pytest.fixture(scope="module")
def nodes(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[HubProcess, HubProcess]]:
    data = tmp_path_factory.mktemp("two-nodes")
    a = HubProcess(data, ENV).start()
    try:
        b = HubProcess(data, ENV).start()
        try:
            yield a, b
        finally:
            b.stop()
    finally:
        a.stop()


@asynccontextmanager
async def joined(url: str) -> AsyncIterator[ClientConnection]:
    async with connect(url) as ws:
        assert await asyncio.wait_for(ws.recv(), 10) == codec.sync_step1(b"\x00")
        yield ws


async def closed_with(ws: ClientConnection, within: float = 10.0) -> int | None:
    async with asyncio.timeout(within):
        try:
            while True:
                await ws.recv()
        except ConnectionClosed as closed:
            return closed.rcvd.code if closed.rcvd is not None else None


async def audit_rows(hub: HubProcess, action: str, target: str) -> list[dict[str, Any]]:
    return [e for e in await hub.audit(action=action) if e["target"] == target]


async def test_disabling_a_user_closes_their_sockets_on_every_node(nodes: tuple[HubProcess, HubProcess]) -> None:
    a, b = nodes
    user, admin = "humen-reporter", a.token("dgdaily-admin")
    token = a.token(user)
    url = "/yjs/typhoon-drill/rev"
    async with joined(a.ws(url, token)) as on_a, joined(b.ws(url, token)) as on_b:
        response = await a.api("POST", f"/api/admin/users/{user}/disable", admin)
        assert response.status_code == 200 and response.json()["user"]["disabled"] is True
        codes = await asyncio.gather(closed_with(on_a), closed_with(on_b))
    assert list(codes) == [CloseCode.FORBIDDEN, CloseCode.FORBIDDEN]

    assert await close_code(b.ws("/yjs/typhoon-drill/rev", token)) == CloseCode.FORBIDDEN
    me = await b.api("GET", "/api/me", token)
    assert me.status_code == 403 and me.json()["error"]["code"] == "user_disabled"

    disable = await eventually(lambda: audit_rows(a, "disable", user))
    assert disable[0]["actor"] == "dgdaily-admin" and disable[0]["client"] == "127.0.0.1"
    revokes = await eventually(lambda: _two(audit_rows(a, "revoke", "typhoon-drill/rev")))
    assert {r["detail"]["reason"] for r in revokes} == {"user_disabled"}
    assert len({r["node"] for r in revokes}) == 2  # one from each node

    response = await b.api("POST", f"/api/admin/users/{user}/enable", admin)
    assert response.status_code == 200 and response.json()["user"]["disabled"] is False

    async def admitted() -> bool:
        async with connect(a.ws("/yjs/typhoon-drill/rev", token)) as ws:
            try:
                return await asyncio.wait_for(ws.recv(), 5) == codec.sync_step1(b"\x00")
            except ConnectionClosed:
                return False

    assert await eventually(admitted)


async def _two(rows: Any) -> list[dict[str, Any]] | None:
    found: list[dict[str, Any]] = await rows
    return found if len(found) >= 2 else None


async def test_a_role_change_reconnects_with_the_new_rights(nodes: tuple[HubProcess, HubProcess]) -> None:
    a, b = nodes
    user, admin = "changan-editor", a.token("dgdaily-admin")
    token = a.token(user)
    try:
        async with joined(b.ws("/yjs/typhoon-drill/roles", token)) as ws:
            response = await a.api("PUT", f"/api/admin/users/{user}/roles", admin, json={"roles": ["viewer"]})
            assert response.status_code == 200 and response.json()["user"]["may_edit"] is False
            assert await closed_with(ws) == CloseCode.RIGHTS_CHANGED
        # Reconnected, the same token now gives a read-only socket.
        async with joined(b.ws("/yjs/typhoon-drill/roles", token)) as ws:
            await ws.send(codec.sync_update(bytes.fromhex("010101000401017402686900")))
            async with asyncio.timeout(10):
                while (frame := await ws.recv()) != codec.permission_denied("read-only: update not applied"):
                    assert isinstance(frame, bytes)
        changes = await eventually(lambda: audit_rows(a, "role_change", user))
        assert changes[0]["detail"] == {"before": ["editor"], "after": ["viewer"]}
        assert changes[0]["actor"] == "dgdaily-admin"
        revoked = await eventually(lambda: audit_rows(b, "revoke", "typhoon-drill/roles"))
        assert revoked[0]["actor"] == user and revoked[0]["detail"]["reason"] == "rights_changed"
    finally:
        await a.api("PUT", f"/api/admin/users/{user}/roles", admin, json={"roles": ["editor"]})


async def test_removing_a_unit_from_a_room_closes_its_sockets(nodes: tuple[HubProcess, HubProcess]) -> None:
    a, b = nodes
    room = next(r for r in demo_rooms() if r.id == "typhoon-drill")
    directory = SqliteDirectory(a.data_dir / "tongpin.sqlite3")  # what an operator's tool would do
    await directory.open()
    try:
        async with joined(b.ws("/yjs/typhoon-drill/members", a.token("shatian-editor"))) as ws:
            await directory.put_room(Room(room.id, room.title, room.owner_unit, room.member_units - {"shatian"}))
            assert await closed_with(ws) == CloseCode.FORBIDDEN
        assert await close_code(a.ws("/yjs/typhoon-drill/members", a.token("shatian-editor"))) == CloseCode.FORBIDDEN
    finally:
        await directory.put_room(room)
        await directory.close()
    revoked = await eventually(lambda: audit_rows(b, "revoke", "typhoon-drill/members"))
    assert revoked[0]["detail"]["reason"] == "not_a_member"


async def test_a_chief_editor_manages_only_their_own_unit(nodes: tuple[HubProcess, HubProcess]) -> None:
    a, _ = nodes
    chief = a.token("dgdaily-chief")
    refused = await a.api("POST", "/api/admin/users/humen-editor/disable", chief)
    assert refused.status_code == 403 and refused.json()["error"]["code"] == "forbidden"
    grant = await a.api("PUT", "/api/admin/users/dgdaily-reporter/roles", chief, json={"roles": ["admin"]})
    assert grant.status_code == 403
    ok = await a.api("PUT", "/api/admin/users/dgdaily-reporter/roles", chief, json={"roles": ["reporter", "editor"]})
    assert ok.status_code == 200 and ok.json()["user"]["roles"] == ["editor", "reporter"]
    own = await a.api("POST", "/api/admin/users/dgdaily-chief/disable", chief)
    assert own.status_code == 403
