"""Real hubs on port 0 and a ``/live`` test client that checks every frame against the schema.

- ``hub_in_process``: the hub (``hub.server.build_server``) served by uvicorn
  in the test's own event loop: quick to start, and the test can reach into
  ``server.hub``.
- ``HubProcess``: ``tongpin serve --port 0`` as a real process (the tests'
  one launcher, ``tests.conftest.HubProcess``), to SIGKILL, or to run beside
  another node.
- ``LiveWS``: a websockets client of ``/live``. Every frame it sends or
  receives is validated against ``schema/live.schema.json``, and the data of
  every system event (a type of ``schema/events.schema.json``) against its
  definition there, so each test checks the contract on real traffic.

Hubs run in development mode (no ``TONGPIN_SECRET``): the demo units, users
and rooms are seeded, and tokens are minted with the data directory's secret.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any, ClassVar

import httpx
import jwt
from jsonschema import Draft202012Validator
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

from hub.config import Settings
from hub.live import AccessLookup, Live
from hub.server import TongpinServer, build_server
from rooms.memory_broker import MemoryBroker, MemoryBus
from schema import events as catalogue
from tests.conftest import HubProcess as CoreHubProcess

ROOT = Path(__file__).resolve().parents[2]
SCHEMA = json.loads((ROOT / "schema" / "live.schema.json").read_text(encoding="utf-8"))
PUBLISH_KEY = "test-publish-key-0123456789abcdef-live"


def _validator(part: str) -> Draft202012Validator:
    return Draft202012Validator({"$ref": f"#/$defs/{part}", "$defs": SCHEMA["$defs"]})


HUB_FRAME = _validator("hub")
EVENT_FRAME = _validator("event")  # the same check for events, without trying every other shape first
CLIENT_FRAME = _validator("client")
CLOSE_CODE = _validator("close_code")
PUBLISH_RESPONSE = _validator("publish_response")
PUBLISH_REQUEST = _validator("publish_request")


def mint(data_dir: Path, user: str, *, ttl: float = 3600, **claims: Any) -> str:
    secret = (data_dir / "secret.key").read_bytes().strip()
    now = time.time()
    body = {"sub": user, "iat": int(now), "exp": int(now + ttl), **claims}
    return jwt.encode(body, secret, algorithm="HS256")


class Node:
    """What tests need of a running hub, in process or not."""

    def __init__(self, data_dir: Path, port: int) -> None:
        self.data_dir = data_dir
        self.port = port

    @property
    def http(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def live_url(self, user: str | None, **params: str) -> str:
        query = dict(params)
        if user is not None:
            query["token"] = mint(self.data_dir, user)
        tail = "&".join(f"{k}={v}" for k, v in query.items())
        return f"ws://127.0.0.1:{self.port}/live" + (f"?{tail}" if tail else "")

    async def client(self, user: str) -> LiveWS:
        return await LiveWS(self.live_url(user)).open()

    async def metrics(self) -> dict[str, float]:
        async with httpx.AsyncClient(timeout=10) as http:
            text = (await http.get(f"{self.http}/metrics")).text
        out = {}
        for line in text.splitlines():
            if line and not line.startswith("#"):
                name, _, value = line.rpartition(" ")
                out[name.split("{", 1)[0]] = float(value)
        return out

    async def publish(
        self, events: list[dict[str, Any]], key: str, *, http: httpx.AsyncClient | None = None
    ) -> dict[str, Any]:
        """Publish through ``POST /live/publish``; return the checked answer."""
        PUBLISH_REQUEST.validate({"events": events})
        headers = {"Authorization": f"Bearer {PUBLISH_KEY}", "Idempotency-Key": key}
        async with contextlib.AsyncExitStack() as stack:
            if http is None:
                http = await stack.enter_async_context(httpx.AsyncClient(timeout=30))
            response = await http.post(f"{self.http}/live/publish", json={"events": events}, headers=headers)
        assert response.status_code in (200, 201), response.text
        answer: dict[str, Any] = response.json()
        PUBLISH_RESPONSE.validate(answer)
        return answer


class InProcessNode(Node):
    def __init__(self, data_dir: Path, port: int, server: TongpinServer) -> None:
        super().__init__(data_dir, port)
        self.server = server

    @property
    def hub(self) -> Any:
        return self.server.hub


def live_settings(data_dir: Path, **overrides: Any) -> Settings:
    values: dict[str, Any] = {
        "port": 0,
        "data_dir": data_dir,
        "log_level": "warning",
        "live_publish_keys": PUBLISH_KEY,
        "node_id": f"n{os.getpid()}-{time.monotonic_ns() % 100000}",
    }
    values.update(overrides)
    return Settings(**values)


@contextlib.asynccontextmanager
async def hub_in_process(
    data_dir: Path, *, live_bus: MemoryBus | None = None, **overrides: Any
) -> AsyncIterator[InProcessNode]:
    """A hub served in this event loop. With ``live_bus``, its live broker is the
    in-process broker on that bus, so several hubs in one process act as a cluster."""
    server = build_server(live_settings(data_dir, **overrides))
    if live_bus is not None:
        hub = server.hub
        broker = MemoryBroker(hub.settings.node_id, live_bus)
        hub.live = Live(hub.settings, AccessLookup(hub.access), broker=broker)
    task = asyncio.get_running_loop().create_task(server.serve())
    try:
        async with asyncio.timeout(20):
            while not server.started:
                if task.done():
                    task.result()
                    raise RuntimeError("hub stopped while starting")
                await asyncio.sleep(0.01)
        port = int(server.servers[0].sockets[0].getsockname()[1])
        yield InProcessNode(data_dir, port, server)
    finally:
        server.should_exit = True
        async with asyncio.timeout(30):
            await task


class HubProcess(CoreHubProcess, Node):
    """``tongpin serve`` as a real process, with authentication on and publishing keys."""

    BASE_ENV: ClassVar[dict[str, str]] = {"TONGPIN_LIVE_PUBLISH_KEYS": PUBLISH_KEY, "TONGPIN_LOG_LEVEL": "warning"}

    def __init__(self, data_dir: Path, env: dict[str, str] | None = None) -> None:
        CoreHubProcess.__init__(self, data_dir, (), env)


class LiveWS:
    """A ``/live`` client; every frame is checked against the schema, every system event against the catalogue."""

    def __init__(self, url: str, *, check_events_every: int = 1) -> None:
        self.url = url
        self.check_events_every = check_events_every  # >1: validate a sample of events (bursts)
        self._events_seen = 0
        self.ws: ClientConnection | None = None
        self.welcome: dict[str, Any] = {}
        self.next_id = 0
        self.received: list[dict[str, Any]] = []

    async def open(self) -> LiveWS:
        self.ws = await connect(self.url, open_timeout=10, max_size=None)
        self.welcome = await self.recv()
        assert self.welcome["type"] == "welcome", self.welcome
        return self

    async def close(self) -> None:
        if self.ws is not None:
            await self.ws.close()

    def abort(self) -> None:
        """Cut the TCP connection with no close handshake (a tunnel, a sleeping laptop)."""
        assert self.ws is not None
        self.ws.transport.abort()

    async def __aenter__(self) -> LiveWS:
        return self if self.ws is not None else await self.open()

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    def command(self, kind: str, **fields: Any) -> dict[str, Any]:
        self.next_id += 1
        return {"type": kind, "id": self.next_id, **fields}

    async def send(self, body: dict[str, Any]) -> int:
        CLIENT_FRAME.validate(body)
        await self.send_raw(json.dumps(body, ensure_ascii=False))
        return int(body["id"])

    async def send_raw(self, data: str | bytes) -> None:
        assert self.ws is not None
        await self.ws.send(data)

    async def recv(self, within: float = 10.0) -> dict[str, Any]:
        assert self.ws is not None
        async with asyncio.timeout(within):
            raw = await self.ws.recv()
        assert isinstance(raw, str), "the hub sends text frames only"
        body: dict[str, Any] = json.loads(raw)
        if body.get("type") == "event":
            self._events_seen += 1
            if self._events_seen % self.check_events_every == 0:
                EVENT_FRAME.validate(body)
            if body.get("event") in catalogue.EVENT_TYPES:  # ad-hoc types of POST /live/publish are not checked
                catalogue.validate(body["event"], body["data"], channel=body["channel"])
            return body
        HUB_FRAME.validate(body)
        self.received.append(body)
        return body

    async def expect(self, kind: str, within: float = 10.0, **match: Any) -> dict[str, Any]:
        """The next frame of ``kind`` matching ``match``; others before it are skipped (and kept)."""
        async with asyncio.timeout(within):
            while True:
                body = await self.recv(within)
                if body["type"] == kind and all(body.get(k) == v for k, v in match.items()):
                    return body

    async def subscribe(self, channel: str, **fields: Any) -> dict[str, Any]:
        """Subscribe and return the answer (``subscribed`` or ``error``)."""
        cid = await self.send(self.command("subscribe", channel=channel, **fields))
        async with asyncio.timeout(10):
            while True:
                body = await self.recv()
                if body["type"] in ("subscribed", "error") and body.get("id") == cid:
                    return body

    async def closed_with(self, within: float = 10.0) -> int:
        """Read until the hub closes; return the close code (checked against the schema)."""
        assert self.ws is not None
        try:
            async with asyncio.timeout(within):
                while True:
                    await self.recv(within)
        except ConnectionClosed:
            pass
        code = self.ws.close_code
        assert code is not None
        CLOSE_CODE.validate(code)
        return code
