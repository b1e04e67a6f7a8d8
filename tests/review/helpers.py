"""What the review tests share: an HTTP client with dev sign-in, drafts made through the API, steps.

- ``Desk(base_url)``: signs in demo users (``POST /api/dev/signin``) once each
  and calls the API as them.
- ``Desk.new_draft`` creates a draft through the workflow API
  (``POST /api/sessions/{id}/drafts``), as a humen editor in the seeded
  ``typhoon-drill`` session; ``Desk.walk`` takes it to a review state.
- ``backends``: the two stores, as ``hub_in_process`` overrides (PostgreSQL
  in a fresh schema of its own).
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any, TypeVar

import httpx

from tests.cluster.services import postgres_schema
from tests.workflow.client import Api

T = TypeVar("T")

SESSION = "typhoon-drill"  # seeded: owner dgdaily; members dgrtv, dgrelease, humen, changan, ...
AUTHOR = "humen-editor"
CHIEF = "dgdaily-chief"
REVIEWERS = {1: "dgdaily-review1", 2: "dgdaily-review2", 3: "dgdaily-review3"}

# How to reach each review state from editing: (user, path tail, body) per step.
WALK: dict[str, list[tuple[str, str, dict[str, Any]]]] = {"editing": []}
WALK["submitted"] = [(AUTHOR, "submit", {})]
WALK["level_2"] = [*WALK["submitted"], (REVIEWERS[1], "review", {"decision": "pass", "comment": "一审通过"})]
WALK["level_3"] = [*WALK["level_2"], (REVIEWERS[2], "review", {"decision": "pass", "comment": "二审通过"})]
WALK["approved"] = [*WALK["level_3"], (REVIEWERS[3], "review", {"decision": "pass", "comment": "三审通过"})]
WALK["published"] = [*WALK["approved"], (CHIEF, "publish", {})]
WALK["rejected"] = [*WALK["submitted"], (REVIEWERS[1], "review", {"decision": "reject", "comment": "不用"})]


class Desk:
    """The review steps as calls of the API (``tests.workflow.client.Api`` signs in and sends them)."""

    def __init__(self, base_url: str) -> None:
        self.api = Api(base_url, timeout=30)
        self.http = self.api.http
        self.token = self.api.token
        self._names = itertools.count(1)

    async def close(self) -> None:
        await self.api.close()

    async def call(self, user: str, method: str, path: str, **kw: Any) -> httpx.Response:
        return await self.api.call(method, path, user, **kw)

    async def ok(self, user: str, method: str, path: str, **kw: Any) -> dict[str, Any]:
        response = await self.call(user, method, path, **kw)
        assert response.status_code in (200, 201), f"{method} {path} as {user}: {response.text}"
        body: dict[str, Any] = response.json()
        return body

    async def new_draft(self, title: str = "台风防御指南", *, session: str = SESSION, lead_unit: str = "humen") -> str:
        """A new draft's path ``session/name``."""
        name = f"d{next(self._names)}"
        body = {"title": title, "lead_unit": lead_unit, "name": name}
        await self.ok(AUTHOR, "POST", f"/api/sessions/{session}/drafts", json=body)
        return f"{session}/{name}"

    async def step(self, path: str, user: str, tail: str, body: dict[str, Any]) -> httpx.Response:
        session, name = path.split("/")
        return await self.call(user, "POST", f"/api/sessions/{session}/drafts/{name}/{tail}", json=body)

    async def walk(self, path: str, state: str) -> None:
        for user, tail, body in WALK[state]:
            response = await self.step(path, user, tail, body)
            assert response.status_code == 200, f"walking {path} to {state}: {tail} as {user}: {response.text}"

    async def get(self, path: str, tail: str, user: str = AUTHOR, **params: str) -> dict[str, Any]:
        session, name = path.split("/")
        return await self.ok(user, "GET", f"/api/sessions/{session}/drafts/{name}/{tail}", params=params)


@contextlib.asynccontextmanager
async def desk_for(base_url: str) -> AsyncIterator[Desk]:
    desk = Desk(base_url)
    try:
        yield desk
    finally:
        await desk.close()


@contextlib.asynccontextmanager
async def backend(name: str) -> AsyncIterator[dict[str, Any]]:
    """``hub_in_process`` overrides for the ``sqlite`` or ``postgres`` backend (and no background jobs)."""
    if name == "sqlite":
        yield {"workers": "none"}
        return
    async with postgres_schema() as url:
        yield {"database_url": url, "workers": "none"}


async def eventually(probe: Callable[[], Awaitable[T | None]], what: str, within: float = 10.0) -> T:
    """Await ``probe`` until it returns something truthy; fail with ``what`` after ``within`` seconds."""
    value: T | None = None
    try:
        async with asyncio.timeout(within):
            while not (value := await probe()):  # noqa: ASYNC110 - another process's state; the deadline bounds it
                await asyncio.sleep(0.02)
    except TimeoutError:
        raise AssertionError(f"never saw {what} within {within}s (last: {value!r})") from None
    return value
