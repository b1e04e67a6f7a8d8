"""Bad input on ``/hocuspocus`` closes only the socket that sent it, with a clear code.

A provider edits the same draft throughout; after every bad socket it still
edits, and has every edit reported stored, on its first connection.
"""

from __future__ import annotations

import pytest
from websockets.exceptions import InvalidStatus

from rooms import codec
from rooms import hocuspocus_codec as hp
from schema.close_codes import CloseCode
from tests.hocuspocus.conftest import ROOM, AuthHub, HocusFactory
from tests.hocuspocus.raw import RawHocus, message, stateless, token
from tests.integration.helpers import doc_text, stored_doc

pytestmark = pytest.mark.node

DOC = f"{ROOM}/steady"
OTHER = f"{ROOM}/bad-input"


def before_auth(tok: str) -> list[tuple[str, list[bytes | str], CloseCode]]:
    """(case, frames, expected close code) for sockets that never authenticate a document."""
    prefix = hp.prefix(OTHER)
    return [
        ("a varUint that never ends", [b"\xff" * 12], CloseCode.BAD_FRAME),
        ("a name that runs past the frame", [b"\x05ab"], CloseCode.BAD_FRAME),
        ("a text frame", ["hello"], CloseCode.BAD_FRAME),
        ("an unknown message type", [prefix + b"\x63"], CloseCode.UNKNOWN_MESSAGE),
        ("broadcast stateless", [prefix + b"\x06" + codec.encode_var_string("x")], CloseCode.UNKNOWN_MESSAGE),
        ("sync status from a client", [prefix + b"\x08\x01"], CloseCode.UNKNOWN_MESSAGE),
        (
            "an auth answer from a client",
            [prefix + b"\x02\x02" + codec.encode_var_string("read-write")],
            CloseCode.UNKNOWN_MESSAGE,
        ),
        ("a prefixed ping", [prefix + b"\x09"], CloseCode.UNKNOWN_MESSAGE),
        ("a path in the name", [token("../etc/passwd", tok)], CloseCode.BAD_NAME),
        ("three parts", [token(f"{ROOM}/a/b", tok)], CloseCode.BAD_NAME),
        ("a non-ASCII name", [token("同频/稿", tok)], CloseCode.BAD_NAME),
        ("an empty name", [token("", tok)], CloseCode.BAD_NAME),
        ("a message before its token", [message(OTHER, codec.sync_step1(b"\x00"))], CloseCode.NOT_AUTHENTICATED),
        ("stateless before its token", [stateless(OTHER, '{"type":"subscribe"}')], CloseCode.NOT_AUTHENTICATED),
        ("a second token", [token(OTHER, tok), token(OTHER, tok)], CloseCode.ALREADY_AUTHENTICATED),
        ("more drafts than allowed", [token(f"{ROOM}/d{i}", tok) for i in range(5)], CloseCode.TOO_MANY_DRAFTS),
        (
            "too many frames before authenticating",
            [token(OTHER, "forged")] + [message(OTHER, codec.sync_step1(b"\x00"))] * 40,
            CloseCode.AUTH_TOO_LARGE,
        ),
        ("too many bytes before authenticating", [stateless(OTHER, "x" * 70_000)], CloseCode.AUTH_TOO_LARGE),
    ]


def after_auth() -> list[tuple[str, bytes, CloseCode]]:
    """(case, frame, expected close code) sent once ``OTHER`` is open."""
    update = codec.sync_update(b"\x01\x01\x01\x00\x04\x01\x01t\x02hi\x00")
    return [
        ("two messages in one frame", message(OTHER, update + codec.awareness_message(b"\x00")), CloseCode.BAD_FRAME),
        ("an update that does not decode", message(OTHER, codec.sync_update(b"\x05\xff\xff")), CloseCode.BAD_UPDATE),
        ("an unknown sync step", message(OTHER, b"\x00\x07\x00"), CloseCode.UNKNOWN_MESSAGE),
        (
            "awareness that is not JSON",
            message(OTHER, codec.awareness_message(b"\x01\x07\x01\x03{x}")),
            CloseCode.BAD_FRAME,
        ),
        ("a second token for an open document", token(OTHER, "again"), CloseCode.ALREADY_AUTHENTICATED),
    ]


async def test_bad_input_closes_only_the_bad_socket(auth_hub: AuthHub, hp_clients: HocusFactory) -> None:
    steady = await hp_clients("steady")
    await steady.socket(auth_hub.url)
    tok = auth_hub.token("dgdaily-editor")
    await steady.open(DOC, tok)
    await steady.wait_doc("synced", DOC)
    typed = ""

    async def still_fine(case: str) -> None:
        nonlocal typed
        typed += "稳"
        await steady.insert_into(DOC, len(typed) - 1, "稳")
        state = await steady.wait_doc("unsynced", DOC, 0)
        assert state["connections"] == 1 and state["closes"] == [], f"after {case}: the good socket was touched"

    for case, frames, expected in before_auth(tok):
        bad = await RawHocus.open(auth_hub.url)
        for frame in frames:
            await bad.send(frame)
        code, reason = await bad.closed()
        assert code == expected, f"{case}: closed with {code} {reason!r}, expected {int(expected)}"
        assert reason, f"{case}: the close says why"
        await still_fine(case)

    for case, frame, expected in after_auth():
        bad = await RawHocus.open(auth_hub.url)
        await bad.send(token(OTHER, tok))
        answer = await bad.until(OTHER, hp.HocusType.AUTH)
        assert answer.rest == bytes((hp.AuthType.AUTHENTICATED,)) + codec.encode_var_string("read-write")
        await bad.send(frame)
        code, reason = await bad.closed()
        assert code == expected, f"{case}: closed with {code} {reason!r}, expected {int(expected)}"
        await still_fine(case)

    assert doc_text(await stored_doc(auth_hub.proc.sqlite_path, ROOM, "steady")) == typed
    assert doc_text(await stored_doc(auth_hub.proc.sqlite_path, ROOM, "bad-input")) == ""
    metrics = await auth_hub.proc.metrics()
    assert metrics["tongpin_protocol_errors_total"] >= len(after_auth()) + len(before_auth(tok))
    # Nothing of the bad sockets stays behind: sessions (per-user limits) and open documents are the steady one's.
    await auth_hub.proc.wait_metric("tongpin_sessions", lambda v: v == 1, "only the steady session")
    await auth_hub.proc.wait_metric("tongpin_hocuspocus_documents", lambda v: v == 1, "only the steady document")
    await auth_hub.proc.wait_metric("tongpin_hocuspocus_sockets", lambda v: v == 1, "only the steady socket")


async def test_silent_sockets_are_closed_at_the_deadline(auth_hub: AuthHub) -> None:
    silent = await RawHocus.open(auth_hub.url)
    code, _ = await silent.closed(within=10)
    assert code == CloseCode.AUTH_TIMEOUT
    # Refused tokens do not count as authenticating: the deadline still holds.
    refused = await RawHocus.open(auth_hub.url)
    await refused.send(token(OTHER, "forged"))
    denied = await refused.until(OTHER, hp.HocusType.AUTH)
    assert denied.rest.startswith(bytes((hp.AuthType.PERMISSION_DENIED,)))
    assert codec.Decoder(denied.rest[1:]).var_string().startswith("token_invalid: ")
    code, _ = await refused.closed(within=10)
    assert code == CloseCode.AUTH_TIMEOUT


async def test_other_origins_are_refused_before_the_upgrade(auth_hub: AuthHub) -> None:
    with pytest.raises(InvalidStatus) as refused:
        await RawHocus.open(auth_hub.url, origin="https://evil.example")
    assert refused.value.response.status_code == 403
    # No token is needed at the upgrade: it comes in-band.
    fine = await RawHocus.open(auth_hub.url, origin=f"http://127.0.0.1:{auth_hub.proc.port}")
    await fine.send(token(OTHER, auth_hub.token("dgdaily-editor")))
    answer = await fine.until(OTHER, hp.HocusType.AUTH)
    assert answer.rest[0] == hp.AuthType.AUTHENTICATED
    await fine.close()
