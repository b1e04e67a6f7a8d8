"""Bad input closes only the offending connection, with its code from ``schema/close_codes.py``.

Two well-behaved clients edit the draft the bad client sends to. After the
bad client is closed they are still connected, keep editing and converge,
and a fresh client finds exactly their text: nothing of the bad input got in.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from pycrdt import Doc, Text

from rooms import codec
from rooms.awareness import AwarenessEntry, encode_awareness
from rooms.names import valid_name
from schema.close_codes import CloseCode
from tests.conftest import HubProcess
from tests.integration.helpers import close_of, converged, raw_socket, stored_keys, upgrade_raw
from tests.ypy_client import YClient

MAX_FRAME = 64 * 1024


@pytest.fixture(scope="module")
def hub(tmp_path_factory: pytest.TempPathFactory) -> Iterator[HubProcess]:
    """One hub for the module (each test uses its own draft), with a small frame limit."""
    proc = HubProcess(tmp_path_factory.mktemp("bad-input"), ("--max-frame", str(MAX_FRAME))).start()
    try:
        yield proc
    finally:
        proc.stop()


def a_valid_update(text: str) -> bytes:
    doc: Doc[Any] = Doc()
    doc.get("t", type=Text).insert(0, text)
    return doc.get_update()


async def two_editors(hub: HubProcess, room: str, draft: str) -> tuple[YClient, YClient, str]:
    first = YClient(hub.ws_url(room, draft, stored="1"))
    second = YClient(hub.ws_url(room, draft))
    await first.connect()
    await second.connect()
    await first.wait_synced()
    await second.wait_synced()
    first.insert(0, "早班编辑：台风预警")
    await second.wait_text("早班编辑：台风预警")
    return first, second, "早班编辑：台风预警"


async def still_fine(hub: HubProcess, room: str, draft: str, first: YClient, second: YClient, text: str) -> None:
    """Both editors are still connected, keep editing and converge; the hub holds exactly that."""
    assert not first.closed.is_set() and not second.closed.is_set(), "a well-behaved client was closed"
    first.insert(len(first.content()), "（甲）")
    second.insert(0, "（乙）")
    final, _ = await converged([first, second])
    assert final == "（乙）" + text + "（甲）"
    await first.wait_all_stored()
    fresh = YClient(hub.ws_url(room, draft))
    await fresh.connect()
    await fresh.wait_synced()
    assert fresh.content() == final
    for client in (fresh, first, second):
        await client.close()


def awareness_with(state: str) -> bytes:
    return codec.awareness_message(encode_awareness([AwarenessEntry(1234567, 1, state)]))


BAD_FRAMES = [
    pytest.param(b"\xde\xad\xbe\xef\xca\xfe\xba\xbe\x00", CloseCode.BAD_FRAME, id="garbage"),
    pytest.param(b"\x00\x02\xff", CloseCode.BAD_FRAME, id="truncated-varuint-length"),
    pytest.param(b"\x80", CloseCode.BAD_FRAME, id="truncated-varuint-type"),
    pytest.param(b"\x00\x02\x20" + b"\x01" * 5, CloseCode.BAD_FRAME, id="length-past-the-end"),
    pytest.param(b"\x01\x05\x01\x02\x03\x09\x00", CloseCode.BAD_FRAME, id="truncated-awareness"),
    pytest.param(awareness_with("{不是JSON"), CloseCode.BAD_FRAME, id="awareness-not-json"),
    pytest.param(codec.sync_update(b"\x01\x01\xff\xff\xff\xff"), CloseCode.BAD_UPDATE, id="corrupt-update"),
    pytest.param(codec.sync_update(a_valid_update("坏")[:-4]), CloseCode.BAD_UPDATE, id="truncated-update"),
    pytest.param(codec.sync_step2(b"\x05"), CloseCode.BAD_UPDATE, id="corrupt-step2"),
    pytest.param(codec.sync_step1(b"\xff\xff"), CloseCode.BAD_UPDATE, id="corrupt-state-vector"),
    pytest.param(b"\x07", CloseCode.UNKNOWN_MESSAGE, id="unknown-message-type"),
    pytest.param(codec.stored_message(3), CloseCode.UNKNOWN_MESSAGE, id="stored-signal-from-a-client"),
    pytest.param(b"\x00\x03\x00", CloseCode.UNKNOWN_MESSAGE, id="unknown-sync-step"),
    pytest.param("你好", CloseCode.BAD_FRAME, id="text-frame"),
]


@pytest.mark.parametrize(("frame", "code"), BAD_FRAMES)
async def test_bad_frame_closes_only_its_connection(
    hub: HubProcess, frame: bytes | str, code: CloseCode, request: pytest.FixtureRequest
) -> None:
    room, draft = "badinput", request.node.callspec.id
    first, second, text = await two_editors(hub, room, draft)
    bad = await raw_socket(hub.ws_url(room, draft))
    await bad.send(frame)
    closed, reason = await close_of(bad)
    assert closed == code, f"expected {code!r}, got {closed} ({reason})"
    await still_fine(hub, room, draft, first, second, text)


async def test_oversized_frame_closes_only_its_connection(hub: HubProcess) -> None:
    room, draft = "badinput", "oversized"
    first, second, text = await two_editors(hub, room, draft)
    bad = await raw_socket(hub.ws_url(room, draft))
    await bad.send(codec.sync_update(a_valid_update("大" * (MAX_FRAME // 3 + 10))))
    closed, reason = await close_of(bad)
    assert closed == CloseCode.MESSAGE_TOO_BIG, f"got {closed} ({reason})"
    await still_fine(hub, room, draft, first, second, text)


async def test_a_frame_just_under_the_limit_is_taken(hub: HubProcess) -> None:
    """The limit is the limit: a large legitimate update below it goes through."""
    room, draft = "badinput", "large-but-fine"
    first, second, _ = await two_editors(hub, room, draft)
    big = "长" * ((MAX_FRAME - 200) // 3)
    frame = codec.sync_update(a_valid_update(big))
    assert len(frame) < MAX_FRAME
    await first.send_raw(frame)
    await second.wait_for(lambda: big in second.content(), "the large update", within=10)
    assert not first.closed.is_set()


BAD_NAMES = [
    b"/yjs/../x",
    b"/yjs/r/..",
    b"/yjs/./d",
    b"/yjs/%2e%2e/d",
    b"/yjs/%2E%2E/%2E%2E",
    b"/yjs/r/%2e%2e%2fr%2fd",
    b"/yjs/a%2Fb/d",
    b"/yjs/r/d%2F..%2F..%2Fetc",
    b"/yjs/r\\d",
    b"/yjs/%C0%AE%C0%AE/d",  # an overlong UTF-8 "."
    b"/yjs/%EF%BD%92/d",  # fullwidth "ｒ"
    b"/yjs/r/%EF%BD%84",  # fullwidth "ｄ"
    b"/yjs/r/d%E2%80%8B",  # a zero-width space after "d"
    b"/yjs/r/%D0%B0",  # Cyrillic "а", which looks like a Latin "a"
    b"/yjs/r/d%00",
    b"/yjs/r/%64",  # "d", percent-encoded: names are never decoded
    b"/yjs/r/d.",
    b"/yjs/r/d/e",
    b"/yjs/r/d/",
    b"/yjs/r",
    b"/yjs//d",
    b"/yjs/-r/d",
    b"/yjs/" + b"a" * 65 + b"/d",
]


async def test_bad_names_are_refused_and_touch_nothing(hub: HubProcess) -> None:
    room, draft = "r", "d"  # the draft most of the bad names imitate
    first, second, text = await two_editors(hub, room, draft)
    for path in BAD_NAMES:
        status, code, reason = await upgrade_raw(hub.port, path)
        assert (status, code) == (101, CloseCode.BAD_NAME), f"{path!r}: {status} {code} {reason}"
    # Non-ASCII bytes in the request line never reach the app: the HTTP parser refuses them.
    for path in ("/yjs/ｒ/d".encode(), b"/yjs/r/d\x00"):
        status, code, _ = await upgrade_raw(hub.port, path)
        assert (status, code) == (400, None), f"{path!r}: {status} {code}"
    # The longest name allowed is allowed.
    longest = YClient(hub.ws_url("a" * 64, "d"))
    await longest.connect()
    await longest.wait_synced()
    await longest.close()
    await still_fine(hub, room, draft, first, second, text)
    assert all(valid_name(r) and valid_name(d) for r, d in await stored_keys(Path(hub.sqlite_path)))
