"""The client families the interop tests drive, behind one small set of calls.

- y-websocket 3 and @y/websocket 4: ``NodeClient`` (``tests/js/yclient.mjs``, ``"v4"``);
- pycrdt: ``YClient``;
- @hocuspocus/provider: ``HocusClient`` (``tests/js/hpclient.mjs``), one socket
  that names the draft in every frame (``room/draft``).

Positions are code points in every family. ``require_v4`` skips loudly (fails
under CI) when the npm packages are missing.
"""

from __future__ import annotations

import asyncio
import base64

from tests.conftest import unavailable
from tests.hocuspocus.hpclient import HocusClient
from tests.integration.node_client import JS_DIR, NodeClient
from tests.ypy_client import YClient, decode_state_vector

V4_PACKAGES = ("@y/websocket", "@y/y")
HOCUS_PACKAGES = ("@hocuspocus/provider",)

Member = YClient | NodeClient  # a HocusClient is a NodeClient


def require(packages: tuple[str, ...]) -> None:
    for package in packages:
        if not (JS_DIR / "node_modules" / package / "package.json").exists():
            unavailable(f"the npm package {package}", "run `npm ci` in tests/js (scripts/bootstrap.sh --with-node)")


def require_v4() -> None:
    """@y/websocket 4 and Yjs 14 are installed in tests/js."""
    require(V4_PACKAGES)


async def insert(member: Member, doc: str, index: int, text: str) -> None:
    if isinstance(member, YClient):
        member.insert(index, text)
    elif isinstance(member, HocusClient):
        await member.insert_into(doc, index, text)
    else:
        await member.insert(index, text)


async def delete(member: Member, doc: str, index: int, length: int) -> None:
    if isinstance(member, YClient):
        member.delete(index, length)
    elif isinstance(member, HocusClient):
        await member.delete_from(doc, index, length)
    else:
        await member.delete(index, length)


async def state(member: Member, doc: str) -> tuple[str, dict[int, int]]:
    """The member's text and decoded state vector, right now."""
    if isinstance(member, YClient):
        return member.content(), member.state_vector()
    report = await member.doc(doc) if isinstance(member, HocusClient) else await member.report()
    return str(report["text"]), decode_state_vector(base64.b64decode(report["stateVector"]))


async def converged(members: list[Member], doc: str, within: float = 15.0) -> tuple[str, dict[int, int]]:
    """Wait until every member holds the same text and state vector; return them.

    Equal state vectors mean each holds every update any of them made, so
    equal texts are then the CRDT's single answer, not a coincidence.
    """
    states: list[tuple[str, dict[int, int]]] = []
    try:
        async with asyncio.timeout(within):
            while True:
                states = [await state(m, doc) for m in members]
                if all(s == states[0] for s in states[1:]):
                    return states[0]
                await asyncio.sleep(0.02)
    except TimeoutError:
        detail = "\n".join(f"  {m!r}: text={s[0]!r} sv={s[1]}" for m, s in zip(members, states, strict=False))
        raise AssertionError(f"clients did not converge within {within}s:\n{detail}") from None
