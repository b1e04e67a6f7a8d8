"""What the workflow's end-to-end tests share: an HTTP client of the API that signs in as the demo people
(development sign-in), and a ``tongpin serve`` on either store backend."""

from __future__ import annotations

import asyncio
import contextlib
import random
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from tests.cluster.services import REDIS_URL, check_redis, postgres_schema, with_db
from tests.conftest import HubFactory, HubProcess

HUB_BACKENDS = ["sqlite", pytest.param("postgres", marks=[pytest.mark.postgres, pytest.mark.redis])]


class Api:
    """``await api.call("POST", "/api/topics", "humen-reporter", json={...})`` → the response."""

    def __init__(self, base: str, *, timeout: float = 20) -> None:
        self.base = base
        self.http = httpx.AsyncClient(base_url=base, timeout=timeout)
        self.tokens: dict[str, str] = {}

    async def token(self, user: str) -> str:
        if user not in self.tokens:
            response = await self.http.post("/api/dev/signin", json={"user": user})
            assert response.status_code == 200, response.text
            self.tokens[user] = response.json()["token"]
        return self.tokens[user]

    async def call(self, method: str, path: str, user: str | None, **kw: Any) -> httpx.Response:
        headers = dict(kw.pop("headers", {}))
        if user is not None:
            headers["Authorization"] = f"Bearer {await self.token(user)}"
        return await self.http.request(method, path, headers=headers, **kw)

    async def ok(self, method: str, path: str, user: str, status: int = 200, **kw: Any) -> Any:
        """The JSON of a response that must have ``status``."""
        response = await self.call(method, path, user, **kw)
        assert response.status_code == status, f"{method} {path}: {response.status_code} {response.text}"
        return response.json()

    async def close(self) -> None:
        await self.http.aclose()


@contextlib.asynccontextmanager
async def serve(hub_factory: HubFactory, backend: str, env: dict[str, str]) -> AsyncIterator[tuple[HubProcess, Api]]:
    """A hub with ``env`` on ``backend``: ``sqlite`` (its data directory, in-process broker) or ``postgres``
    (a fresh schema, and Redis on a random database); and a client of its API. Both stop on exit."""
    async with contextlib.AsyncExitStack() as stack:
        env = dict(env)
        if backend == "postgres":
            await check_redis()
            env["TONGPIN_DATABASE_URL"] = await stack.enter_async_context(postgres_schema())
            env["TONGPIN_REDIS_URL"] = with_db(REDIS_URL, random.randint(2, 15))
        hub = hub_factory(env=env)
        stack.push_async_callback(asyncio.to_thread, hub.stop)  # before the schema is dropped
        api = Api(hub.http)
        stack.push_async_callback(api.close)
        yield hub, api
