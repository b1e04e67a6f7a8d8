"""Fast tests of the pieces: tokens, policy, origins, log redaction, the secret, limits."""

from __future__ import annotations

import asyncio
import logging
import multiprocessing
import stat
import time
from pathlib import Path

import jwt
import pytest

from hub.auth import (
    SECRET_FILE,
    Identity,
    RedactTokens,
    TokenError,
    Tokens,
    can_open_room,
    may_edit,
    may_manage,
    origin_allowed,
    parse_origins,
    resolve_secret,
)
from hub.cli import parse_ttl
from hub.limits import AuthGuard, DraftQuota, TokenBucket
from rooms.directory import Role, Room, User
from rooms.errors import Closing
from schema.close_codes import CLOSE_CODES, CloseCode

SECRET = b"s" * 64  # long enough for every HMAC size, so PyJWT does not warn
EDITOR = User("humen-editor", "朱雅婷", "humen", frozenset({Role.EDITOR}))
ROOM = Room("typhoon-drill", "防御台风联合报道策划", "dgdaily", frozenset({"humen", "changan"}))


def test_a_token_round_trips_with_every_claim() -> None:
    tokens = Tokens(SECRET)
    identity = tokens.verify(tokens.issue(EDITOR, 60))
    assert (identity.sub, identity.name, identity.unit, identity.roles) == (
        "humen-editor",
        "朱雅婷",
        "humen",
        frozenset({"editor"}),
    )
    assert time.time() < identity.exp <= time.time() + 60
    claims = jwt.decode(tokens.issue(EDITOR, 60), SECRET, algorithms=["HS256"])
    assert set(claims) == {"sub", "name", "unit", "roles", "iat", "exp"}


@pytest.mark.parametrize(
    ("token", "code"),
    [
        (None, "token_missing"),
        ("", "token_missing"),
        ("abc", "token_invalid"),
        (jwt.encode({"sub": "a", "exp": 9e9}, None, algorithm="none"), "token_invalid"),
        (jwt.encode({"sub": "a", "exp": 9e9}, SECRET, algorithm="HS384"), "token_invalid"),
        (jwt.encode({"sub": "a", "exp": 9e9}, b"o" * 64, algorithm="HS256"), "token_invalid"),
        (jwt.encode({"sub": "a"}, SECRET, algorithm="HS256"), "token_invalid"),  # no exp
        (jwt.encode({"exp": 9e9}, SECRET, algorithm="HS256"), "token_invalid"),  # no sub
        (jwt.encode({"sub": "../etc", "exp": 9e9}, SECRET, algorithm="HS256"), "token_invalid"),
        (jwt.encode({"sub": "a", "exp": 9e9, "roles": "admin"}, SECRET, algorithm="HS256"), "token_invalid"),
        (jwt.encode({"sub": "a", "exp": 9e9, "unit": "Not A Unit"}, SECRET, algorithm="HS256"), "token_invalid"),
        (jwt.encode({"sub": "a", "exp": 1}, SECRET, algorithm="HS256"), "token_expired"),
        ("e" * 5000, "token_invalid"),
    ],
)
def test_bad_tokens_are_refused(token: str | None, code: str) -> None:
    with pytest.raises(TokenError) as refused:
        Tokens(SECRET).verify(token)
    assert refused.value.code == code


def test_an_expired_token_names_its_subject_only_when_the_signature_holds() -> None:
    good = jwt.encode({"sub": "humen-editor", "exp": 1}, SECRET, algorithm="HS256")
    forged = jwt.encode({"sub": "humen-editor", "exp": 1}, b"o" * 64, algorithm="HS256")
    with pytest.raises(TokenError) as expired:
        Tokens(SECRET).verify(good)
    assert expired.value.sub == "humen-editor"
    with pytest.raises(TokenError) as invalid:
        Tokens(SECRET).verify(forged)
    assert invalid.value.code == "token_invalid" and invalid.value.sub is None


def test_unknown_roles_in_a_token_are_dropped() -> None:
    token = jwt.encode({"sub": "a", "exp": 9e9, "roles": ["editor", "root"]}, SECRET, algorithm="HS256")
    assert Tokens(SECRET).verify(token).roles == frozenset({"editor"})


def test_who_may_edit() -> None:
    editing = {Role.REPORTER, Role.EDITOR, Role.DUTY_EDITOR, Role.REVIEWER_1, Role.REVIEWER_2, Role.REVIEWER_3}
    editing |= {Role.CHIEF_EDITOR, Role.COMMANDER}
    for role in Role:
        assert may_edit({role}) is (role in editing), role
    assert not may_edit(set())


def test_only_member_units_open_a_room() -> None:
    def who(unit: str) -> Identity:
        return Identity("u", "u", unit, frozenset({"editor"}), 9e9)

    assert can_open_room(who("dgdaily"), ROOM)  # owner
    assert can_open_room(who("humen"), ROOM)  # member
    assert not can_open_room(who("gaobu"), ROOM)
    assert not can_open_room(who("humen"), None)  # no such room
    assert can_open_room(Identity("anonymous-1", "", "", frozenset(), 9e9, anonymous=True), None)


def test_who_may_manage_whom() -> None:
    admin = Identity("dgdaily-admin", "", "dgdaily", frozenset({Role.ADMIN}), 9e9)
    chief = Identity("humen-chief", "", "humen", frozenset({Role.CHIEF_EDITOR}), 9e9)
    assert may_manage(admin, EDITOR) and may_manage(chief, EDITOR)
    assert not may_manage(chief, User("gaobu-editor", "", "gaobu", frozenset({Role.EDITOR})))
    assert not may_manage(chief, User("humen-admin", "", "humen", frozenset({Role.ADMIN})))
    assert not may_manage(admin, User("dgdaily-admin", "", "dgdaily", frozenset({Role.ADMIN})))  # not oneself
    assert not may_manage(Identity("x", "", "humen", frozenset({Role.EDITOR}), 9e9), EDITOR)


@pytest.mark.parametrize(
    ("origin", "host", "allowed", "ok"),
    [
        (None, "hub:8765", "", True),  # not a browser
        ("http://hub:8765", "hub:8765", "", True),  # the hub's own page
        ("http://HUB:8765", "hub:8765", "", True),
        ("http://evil.example", "hub:8765", "", False),
        ("http://hub:8766", "hub:8765", "", False),
        ("null", "hub:8765", "", False),  # sandboxed frames, file: pages
        ("https://news.example", "hub:8765", "https://news.example, https://desk.example/", True),
        ("https://desk.example", "hub:8765", "https://news.example, https://desk.example/", True),
        ("https://news.example.evil", "hub:8765", "https://news.example", False),
        ("http://anything", "hub:8765", "*", True),
        ("http://[::1", "hub:8765", "", False),  # unparsable
    ],
)
def test_origin_allow_list(origin: str | None, host: str, allowed: str, ok: bool) -> None:
    assert origin_allowed(origin, host, parse_origins(allowed)) is ok


def test_log_lines_never_carry_tokens() -> None:
    record = logging.LogRecord(
        "uvicorn.error", logging.INFO, __file__, 1, '%s - "WebSocket %s" [accepted]',
        ("127.0.0.1:5", "/yjs/r/d?stored=1&token=eyJhbGciOi.eyJzdWIi.sig&x=1"), None,
    )  # fmt: skip
    assert RedactTokens().filter(record)
    assert record.getMessage() == '127.0.0.1:5 - "WebSocket /yjs/r/d?stored=1&token=[redacted]&x=1" [accepted]'
    bearer = logging.LogRecord("x", logging.INFO, __file__, 1, "Authorization: Bearer abc.def.ghi", None, None)
    RedactTokens().filter(bearer)
    assert "abc.def" not in bearer.getMessage()


def test_the_development_secret_is_generated_once_with_mode_0600(tmp_path: Path) -> None:
    first = resolve_secret("", tmp_path)
    assert first.generated and len(first.value) >= 32
    path = tmp_path / "secret.key"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert resolve_secret("", tmp_path).value == first.value
    path.chmod(0o644)
    assert resolve_secret("", tmp_path).value == first.value
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    operator = resolve_secret("x" * 32, tmp_path / "elsewhere")
    assert not operator.generated and operator.value == b"x" * 32
    assert not (tmp_path / "elsewhere").exists()
    with pytest.raises(SystemExit):
        resolve_secret("short", tmp_path)


def test_ttl_parsing() -> None:
    assert [parse_ttl(t) for t in ("90", "90s", "30m", "12h", "7d")] == [90, 90, 1800, 43200, 604800]
    for bad in ("", "1w", "-5", "0", "31d", "1h30m"):
        with pytest.raises(SystemExit):
            parse_ttl(bad)


def test_token_bucket() -> None:
    bucket = TokenBucket(10, 20, now=0.0)
    assert all(bucket.take(1, 0.0) for _ in range(20))
    assert not bucket.take(1, 0.0)
    assert not bucket.full(0.0)
    assert bucket.take(1, 0.1)  # refilled one
    assert not bucket.take(1, 0.1)
    assert bucket.full(10.0) and bucket.take(20, 10.0)
    assert TokenBucket(0, 0, now=0.0).take(10**9, 0.0)  # rate 0: no limit


def test_auth_guard_caps_bytes_messages_and_time() -> None:
    guard = AuthGuard(timeout=60, max_bytes=100, max_messages=3)
    guard.charge(50)
    with pytest.raises(Closing) as too_big:
        guard.charge(51)
    assert too_big.value.code == CloseCode.AUTH_TOO_LARGE
    chatty = AuthGuard(timeout=60, max_bytes=10**6, max_messages=2)
    chatty.charge(1)
    chatty.charge(1)
    with pytest.raises(Closing):
        chatty.charge(1)
    late = AuthGuard(timeout=0, max_bytes=100)
    with pytest.raises(Closing) as timeout:
        late.charge(1)
    assert timeout.value.code == CloseCode.AUTH_TIMEOUT


async def test_auth_guard_receive_ends_at_the_deadline() -> None:
    guard = AuthGuard(timeout=0.2, max_bytes=10**6, max_messages=10**6)

    async def never() -> bytes:
        await asyncio.Event().wait()
        return b""

    with pytest.raises(Closing) as timeout:
        await guard.receive(never)
    assert timeout.value.code == CloseCode.AUTH_TIMEOUT


def test_draft_quota() -> None:
    quota = DraftQuota(2)
    quota.open("a/1")
    quota.open("a/2")
    quota.open("a/1")  # already open: no new slot
    with pytest.raises(Closing) as refused:
        quota.open("a/3")
    assert refused.value.code == CloseCode.TOO_MANY_DRAFTS
    quota.close("a/1")
    quota.open("a/3")


def test_every_new_close_code_has_advice() -> None:
    rows = {info.code: info for info in CLOSE_CODES}
    expired = rows[CloseCode.AUTH_EXPIRED]
    assert expired.reconnect is False and "Authenticate again" in expired.meaning
    assert rows[CloseCode.RATE_LIMITED].reconnect is True
    assert rows[CloseCode.FORBIDDEN].reconnect is False


def _resolve_in_child(data_dir: str) -> bytes:
    return resolve_secret("", Path(data_dir)).value


def test_processes_starting_together_agree_on_one_generated_secret(tmp_path: Path) -> None:
    ctx = multiprocessing.get_context("spawn")
    with ctx.Pool(6) as pool:
        values = pool.map(_resolve_in_child, [str(tmp_path)] * 12)
    assert len(set(values)) == 1 and len(values[0]) >= 32
    assert (tmp_path / SECRET_FILE).stat().st_mode & 0o777 == 0o600
    assert [p.name for p in tmp_path.iterdir()] == [SECRET_FILE], "no temporary file is left behind"
