"""A real hub process on port 0 for the identity tests, and small client helpers.

The hub runs in development mode (no ``TONGPIN_SECRET``), so its secret is in
``DATA_DIR/secret.key``; the tests read it to mint tokens, including forged,
expired and wrongly signed ones.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, ClassVar, TypeVar

import httpx
import jwt
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed, InvalidStatus

from tests.conftest import ROOT
from tests.conftest import HubProcess as CoreHubProcess

__all__ = ["ROOT", "HubProcess", "audited", "close_code", "eventually", "upgrade_refused"]

T = TypeVar("T")


class HubProcess(CoreHubProcess):
    """A hub with authentication on and its default limits, plus token and API helpers."""

    BASE_ENV: ClassVar[dict[str, str]] = {}

    def __init__(self, data_dir: Path, env: dict[str, str] | None = None, *args: str) -> None:
        super().__init__(data_dir, args, env)

    def ws(self, path: str, token: str | None = None, **params: str) -> str:
        query = {"token": token, **params} if token is not None else params
        tail = "&".join(f"{k}={v}" for k, v in query.items())
        return f"ws://127.0.0.1:{self.port}{path}" + (f"?{tail}" if tail else "")

    # -- tokens ------------------------------------------------------------

    @property
    def secret(self) -> bytes:
        return (self.data_dir / "secret.key").read_bytes().strip()

    def token(self, user: str, *, ttl: float = 3600) -> str:
        """A token as the hub issues it (the hub takes rights from its directory, not from claims)."""
        now = time.time()
        claims = {"sub": user, "name": user, "unit": "", "roles": [], "iat": int(now), "exp": int(now + ttl)}
        return jwt.encode(claims, self.secret, algorithm="HS256")

    # -- HTTP ----------------------------------------------------------------

    async def api(self, method: str, path: str, token: str | None = None, **kw: Any) -> httpx.Response:
        headers = dict(kw.pop("headers", {}))
        if token is not None:
            headers["Authorization"] = f"Bearer {token}"
        async with httpx.AsyncClient(base_url=self.http, timeout=10) as client:
            return await client.request(method, path, headers=headers, **kw)

    async def audit(self, **params: str) -> list[dict[str, Any]]:
        admin = self.token("dgdaily-admin")
        response = await self.api("GET", "/api/admin/audit", admin, params={"limit": "1000", **params})
        assert response.status_code == 200, response.text
        events: list[dict[str, Any]] = response.json()["events"]
        return events


async def audited(hub: HubProcess, **match: Any) -> dict[str, Any]:
    """Wait for the newest audit event whose fields (and ``detail`` fields) match."""
    detail = match.pop("detail", {})

    async def probe() -> dict[str, Any] | None:
        for event in reversed(await hub.audit(action=match["action"])):
            if all(event.get(k) == v for k, v in match.items()) and all(
                event["detail"].get(k) == v for k, v in detail.items()
            ):
                found: dict[str, Any] = event
                return found
        return None

    return await eventually(probe)


async def eventually(probe: Callable[[], Awaitable[T | None]], within: float = 10.0, interval: float = 0.05) -> T:
    """Await ``probe`` until it returns something truthy; fail after ``within`` seconds."""
    async with asyncio.timeout(within):
        while True:
            value = await probe()
            if value:
                return value
            await asyncio.sleep(interval)


async def upgrade_refused(url: str, **kw: Any) -> tuple[int, dict[str, Any]]:
    """Connect expecting the upgrade to be refused; return (HTTP status, JSON body)."""
    try:
        async with connect(url, open_timeout=10, **kw):
            pass
    except InvalidStatus as exc:
        body = bytes(exc.response.body or b"")
        return exc.response.status_code, json.loads(body) if body else {}
    raise AssertionError(f"upgrade to {url.split('?')[0]} was accepted")


async def close_code(url: str, within: float = 10.0, **kw: Any) -> int | None:
    """Connect, read until the hub closes the socket, return its close code."""
    async with asyncio.timeout(within), connect(url, open_timeout=10, **kw) as ws:
        try:
            while True:
                await ws.recv()
        except ConnectionClosed as closed:
            return closed.rcvd.code if closed.rcvd is not None else None
