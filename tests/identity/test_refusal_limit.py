"""An address whose upgrades keep being refused is answered 429 for a cooldown; others are not.

The rules of ``hub.limits.RefusalLimit`` with a given clock, then a real hub
on port 0 with a small limit and a short cooldown: the same machine connects
from two loopback addresses (127.0.0.1 and, by binding the client socket,
127.0.0.2), which the hub sees as two clients.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import InvalidStatus

from hub.limits import RefusalLimit
from tests.identity.hubproc import HubProcess, audited, eventually

LIMIT = 3
COOLDOWN = 2.0
OTHER = ("127.0.0.2", 0)  # a second client address on the loopback network


# -- the rules ---------------------------------------------------------------------


def test_the_limit_th_refusal_blocks_for_the_cooldown() -> None:
    limit = RefusalLimit(3, 10.0)
    assert [limit.refused("a", now=t) for t in (0.0, 1.0, 2.0)] == [False, False, True]
    assert limit.blocked("a", now=2.0) == pytest.approx(10.0)
    assert limit.blocked("b", now=2.0) == 0.0  # another address is never affected
    assert limit.refused("a", now=5.0) is False  # attempts while blocked do not extend it
    assert limit.blocked("a", now=11.9) == pytest.approx(0.1)
    assert limit.blocked("a", now=12.0) == 0.0  # over: a fresh start
    assert [limit.refused("a", now=t) for t in (12.0, 13.0)] == [False, False]


def test_refusals_further_apart_than_the_window_never_block() -> None:
    limit = RefusalLimit(3, 10.0)
    for t in range(0, 200, 6):  # two refusals per window, for ever
        assert limit.refused("a", now=float(t)) is False
        assert limit.blocked("a", now=float(t)) == 0.0


def test_memory_is_bounded_and_idle_addresses_are_forgotten() -> None:
    limit = RefusalLimit(3, 10.0, max_addresses=100)
    for n in range(1000):
        limit.refused(f"10.0.{n // 256}.{n % 256}", now=0.0)
    assert len(limit) == 100
    for n in range(100):  # a second wave, after the first one's window
        limit.refused(f"10.1.0.{n}", now=20.0)
    assert len(limit) <= 100
    assert len(limit) < 100 or all(k.startswith("10.1.") for k in limit._addresses)


def test_zero_turns_it_off() -> None:
    limit = RefusalLimit(0, 10.0)
    assert not any(limit.refused("a", now=0.0) for _ in range(100))
    assert limit.blocked("a", now=0.0) == 0.0 and len(limit) == 0


# -- a real hub --------------------------------------------------------------------


@pytest.fixture
def hub(tmp_path: Path) -> Any:
    env = {"TONGPIN_UPGRADE_REFUSAL_LIMIT": str(LIMIT), "TONGPIN_UPGRADE_REFUSAL_COOLDOWN": str(COOLDOWN)}
    proc = HubProcess(tmp_path / "hub", env).start()
    try:
        yield proc
    finally:
        proc.stop()


async def attempt(url: str, **kw: Any) -> tuple[int, dict[str, str], bytes]:
    """Open (and at once close) a websocket: 101 when accepted, else the refusal's status, headers and body."""
    try:
        async with connect(url, open_timeout=10, **kw):
            return 101, {}, b""
    except InvalidStatus as refused:
        response = refused.response
        return (
            response.status_code,
            {k.lower(): v for k, v in response.headers.raw_items()},
            bytes(response.body or b""),
        )


async def test_an_address_that_keeps_failing_gets_429_until_the_cooldown_ends(hub: HubProcess) -> None:
    good = hub.token("humen-editor")
    draft = hub.ws("/yjs/typhoon-drill/refusals", good)
    for n in range(LIMIT):
        blocked_at = time.monotonic()  # no later than the block starts (one machine, one monotonic clock)
        status, _, body = await attempt(hub.ws("/yjs/typhoon-drill/refusals", f"guess-{n}"))
        assert status == 401, body  # refused on its merits, the last one too

    status, headers, body = await attempt(draft)  # a good token does not help from here
    assert status == 429, body
    assert b'"too_many_refusals"' in body
    assert 1 <= int(headers["retry-after"]) <= COOLDOWN
    status, _, _ = await attempt(hub.ws("/live", good))  # every websocket endpoint
    assert status == 429

    # Another address is unaffected: it connects, and its own bad token gets a plain 401.
    assert (await attempt(draft, local_addr=OTHER))[0] == 101
    assert (await attempt(hub.ws("/yjs/typhoon-drill/refusals", "bad"), local_addr=OTHER))[0] == 401

    await audited(hub, action="refuse", client="127.0.0.2", detail={"reason": "token_invalid"})  # it was another
    event = await audited(hub, action="refuse", client="127.0.0.1", detail={"reason": "too_many_refusals"})
    assert event["detail"]["status"] == 429

    # Trying while blocked does not extend the block: the good client gets in once it is over.
    seen: list[int] = []

    async def admitted() -> bool:
        status = (await attempt(draft))[0]
        seen.append(status)
        return status == 101

    await eventually(admitted, within=COOLDOWN + 10, interval=0.1)
    assert set(seen[:-1]) <= {429}
    assert time.monotonic() - blocked_at >= COOLDOWN  # not before its end
    metrics = await hub.api("GET", "/metrics")
    blocked = [line for line in metrics.text.splitlines() if line.startswith("tongpin_upgrades_blocked_total")]
    assert blocked and float(blocked[0].split()[-1]) >= 2
