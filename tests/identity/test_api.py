"""The identity HTTP API: answers, validation (4xx JSON, never 5xx), dev sign-in on and off."""

from __future__ import annotations

import os
import string
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from schema.close_codes import CloseCode
from tests.identity.hubproc import ROOT, HubProcess, audited, close_code, upgrade_refused

PRODUCTION_SECRET = "p" * 40


def assert_error(response: httpx.Response, status: int, code: str | None = None) -> None:
    assert response.status_code == status, response.text
    body = response.json()
    assert set(body) == {"error"} and set(body["error"]) == {"code", "message"}
    if code is not None:
        assert body["error"]["code"] == code


async def test_me_units_users_rooms(hub: HubProcess) -> None:
    token = hub.token("humen-editor")
    me = (await hub.api("GET", "/api/me", token)).json()
    assert me["user"]["id"] == "humen-editor" and me["user"]["unit"] == "humen" and me["user"]["may_edit"]
    assert [r["id"] for r in me["rooms"]] == ["typhoon-drill"]
    assert me["token_exp"] > 0

    units = (await hub.api("GET", "/api/units", token)).json()["units"]
    assert len(units) == 38
    assert {u["kind"] for u in units} == {"city_outlet", "park", "subdistrict", "town"}
    assert units[0] == {"code": "dgdaily", "name_zh": "东莞日报社", "name_en": "Dongguan Daily", "kind": "city_outlet",
                        "note": ""}  # fmt: skip

    people = (await hub.api("GET", "/api/users", token, params={"unit": "dgdaily"})).json()["users"]
    roles = {r for p in people for r in p["roles"]}
    assert {"chief_editor", "reviewer_1", "reviewer_2", "reviewer_3", "commander", "admin"} <= roles
    assert all(p["name"] and not p["name"].isascii() for p in people)  # Chinese names

    room = (await hub.api("GET", "/api/rooms/typhoon-drill", token)).json()["room"]
    assert room["owner_unit"] == "dgdaily" and "humen" in room["member_units"]
    assert_error(await hub.api("GET", "/api/rooms/dragon-boat", token), 404, "not_found")  # not a member


async def test_dev_sign_in_gives_a_working_token(hub: HubProcess) -> None:
    listing = (await hub.api("GET", "/api/dev/users")).json()["units"]
    assert any(u["code"] == "wanjiang" and u["users"] for u in listing)
    response = await hub.api("POST", "/api/dev/signin", json={"user": "wanjiang-editor"})
    assert response.status_code == 200
    body = response.json()
    assert body["user"]["id"] == "wanjiang-editor"
    assert (await hub.api("GET", "/api/me", body["token"])).json()["user"]["id"] == "wanjiang-editor"
    # wanjiang owns dragon-boat: its drafts open; typhoon-drill's do not.
    assert await close_code(hub.ws("/yjs/typhoon-drill/x", body["token"]), within=10) == CloseCode.FORBIDDEN
    event = await audited(hub, action="signin", actor="wanjiang-editor", target="wanjiang-editor")
    assert event["client"] == "127.0.0.1"


BAD_REQUESTS: list[tuple[str, str, dict[str, Any], int, str]] = [
    ("GET", "/api/me", {}, 401, "token_missing"),
    ("GET", "/api/me", {"headers": {"Authorization": "Basic abc"}}, 401, "token_invalid"),
    ("GET", "/api/me", {"headers": {"Authorization": "Bearer"}}, 401, "token_missing"),
    ("GET", "/api/nope", {}, 404, "not_found"),
    ("DELETE", "/api/me", {}, 405, "method_not_allowed"),
    ("POST", "/api/dev/signin", {"content": b"{", "headers": {"Content-Type": "application/json"}}, 400, "bad_json"),
    ("POST", "/api/dev/signin", {"json": [1, 2]}, 400, "bad_json"),
    ("POST", "/api/dev/signin", {"content": b"user=x"}, 415, "unsupported_media_type"),
    ("POST", "/api/dev/signin", {"json": {"user": "x" * 5000}}, 400, "bad_user_id"),
    ("POST", "/api/dev/signin", {"json": {"user": "../../etc"}}, 400, "bad_user_id"),
    ("POST", "/api/dev/signin", {"json": {"user": 7}}, 400, "bad_user_id"),
    ("POST", "/api/dev/signin", {"json": {"user": "no-such-user"}}, 404, "not_found"),
    ("POST", "/api/dev/signin", {"json": {"pad": "x" * 20000}}, 413, "payload_too_large"),
]


@pytest.mark.parametrize(("method", "path", "kw", "status", "code"), BAD_REQUESTS)
async def test_bad_requests_get_a_json_4xx(
    hub: HubProcess, method: str, path: str, kw: dict[str, Any], status: int, code: str
) -> None:
    assert_error(await hub.api(method, path, **kw), status, code)


AUTHED_BAD: list[tuple[str, str, dict[str, Any], int, str]] = [
    ("GET", "/api/users", {"params": {"unit": "../x"}}, 400, "bad_unit"),
    ("GET", "/api/users", {"params": {"unit": "atlantis"}}, 404, "not_found"),
    ("GET", "/api/rooms/%E2%80%90x", {}, 400, "bad_room"),
    ("GET", "/api/admin/audit", {"params": {"limit": "0"}}, 400, "bad_parameter"),
    ("GET", "/api/admin/audit", {"params": {"limit": "-1"}}, 400, "bad_parameter"),
    ("GET", "/api/admin/audit", {"params": {"after": "1e9"}}, 400, "bad_parameter"),
    ("GET", "/api/admin/audit", {"params": {"action": "drop table"}}, 400, "bad_parameter"),
    ("GET", "/api/admin/audit", {"params": {"actor": "Robert'); --"}}, 400, "bad_user_id"),
    ("PUT", "/api/admin/users/humen-editor/roles", {"json": {"roles": "editor"}}, 400, "bad_roles"),
    ("PUT", "/api/admin/users/humen-editor/roles", {"json": {"roles": ["root"]}}, 400, "bad_roles"),
    ("PUT", "/api/admin/users/humen-editor/roles", {"json": {"roles": []}}, 400, "bad_roles"),
    ("PUT", "/api/admin/users/humen-editor/roles", {"json": {}}, 400, "bad_roles"),
    ("PUT", "/api/admin/users/NOPE!/roles", {"json": {"roles": ["editor"]}}, 400, "bad_user_id"),
    ("POST", "/api/admin/users/ghost/disable", {}, 404, "not_found"),
    ("POST", "/api/admin/users/dgdaily-admin/disable", {}, 403, "forbidden"),  # not oneself
]


@pytest.mark.parametrize(("method", "path", "kw", "status", "code"), AUTHED_BAD)
async def test_bad_admin_and_query_input_gets_a_json_4xx(
    hub: HubProcess, method: str, path: str, kw: dict[str, Any], status: int, code: str
) -> None:
    assert_error(await hub.api(method, path, hub.token("dgdaily-admin"), **kw), status, code)


async def test_only_admins_read_the_audit_trail(hub: HubProcess) -> None:
    assert_error(await hub.api("GET", "/api/admin/audit", hub.token("dgdaily-chief")), 403, "forbidden")
    assert_error(await hub.api("POST", "/api/admin/users/humen-viewer/disable", hub.token("humen-editor")), 403)


TEXT = st.text(alphabet=string.printable + "同频‐ｄ\u0000\u200b%/.", max_size=40)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(user=TEXT, unit=TEXT, limit=TEXT, body=st.one_of(st.none(), st.binary(max_size=64), TEXT.map(str.encode)))
def test_fuzzed_api_input_never_gets_a_5xx(
    hub: HubProcess, user: str, unit: str, limit: str, body: bytes | None
) -> None:
    admin = {"Authorization": f"Bearer {hub.token('dgdaily-admin')}"}
    json_admin = admin | {"Content-Type": "application/json"}
    calls: list[tuple[str, str, dict[str, Any]]] = [
        ("GET", "/api/users", {"params": {"unit": unit}, "headers": admin}),
        ("GET", "/api/admin/audit", {"params": {"limit": limit, "actor": user}, "headers": admin}),
        ("POST", "/api/dev/signin", {"content": body, "headers": {"Content-Type": "application/json"}}),
        ("PUT", f"/api/admin/users/{user}/roles", {"content": body, "headers": json_admin}),
        ("GET", "/api/me", {"headers": {"Authorization": f"Bearer {user}"}}),
    ]
    with httpx.Client(base_url=hub.http, timeout=10) as client:
        for method, path, kw in calls:
            try:
                answer = client.request(method, path, **kw)
            except (httpx.LocalProtocolError, httpx.InvalidURL, httpx.UnsupportedProtocol, UnicodeEncodeError):
                continue  # the client itself refuses to send this (a NUL in a header, say)
            assert 400 <= answer.status_code < 500 or answer.status_code == 200, (answer.request.url, answer.text)
            assert answer.headers["content-type"].startswith("application/json")


@pytest.fixture(scope="module")
def production_hub(tmp_path_factory: pytest.TempPathFactory) -> Iterator[HubProcess]:
    proc = HubProcess(tmp_path_factory.mktemp("production"), {"TONGPIN_SECRET": PRODUCTION_SECRET}).start()
    try:
        yield proc
    finally:
        proc.stop()


async def test_with_a_secret_dev_sign_in_is_off(production_hub: HubProcess) -> None:
    assert_error(await production_hub.api("POST", "/api/dev/signin", json={"user": "humen-editor"}), 404)
    assert_error(await production_hub.api("GET", "/api/dev/users"), 404)
    assert not (production_hub.data_dir / "secret.key").exists()
    # No demo users either: the directory holds only the units.
    status, body = await upgrade_refused(production_hub.ws("/yjs/typhoon-drill/x"))
    assert (status, body["error"]["code"]) == (401, "token_missing")


def _serve_fails(tmp: Path, env: dict[str, str], *args: str) -> str:
    base = {k: v for k, v in os.environ.items() if not k.startswith("TONGPIN_")}
    result = subprocess.run(
        [sys.executable, "-m", "hub.cli", "serve", "--port", "0", "--data-dir", str(tmp), *args],
        cwd=ROOT,
        env=base | env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode != 0
    return result.stderr


def test_auth_off_is_refused_with_a_secret_or_off_loopback(tmp_path: Path) -> None:
    with_secret = {"TONGPIN_SECRET": PRODUCTION_SECRET}
    assert "refused when TONGPIN_SECRET is set" in _serve_fails(tmp_path, with_secret, "--auth", "off")
    assert "loopback" in _serve_fails(tmp_path, {}, "--auth", "off", "--host", "0.0.0.0")
    assert "at least 32 bytes" in _serve_fails(tmp_path, {"TONGPIN_SECRET": "short"})
    assert "required or off" in _serve_fails(tmp_path, {}, "--auth", "maybe")
