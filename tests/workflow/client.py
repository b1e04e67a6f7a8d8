"""An HTTP client of the workflow API that signs in as the demo people (development sign-in)."""

from __future__ import annotations

from typing import Any

import httpx


class Api:
    """``await api.call("POST", "/api/topics", "humen-reporter", json={...})`` → the response."""

    def __init__(self, base: str) -> None:
        self.base = base
        self.http = httpx.AsyncClient(base_url=base, timeout=20)
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
