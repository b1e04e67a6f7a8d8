"""Fixtures for ``/hocuspocus``: one authenticating hub for the module, provider clients in Node.

The hub runs in development mode with authentication on (tokens are minted
with the data directory's secret), with small limits so the limit tests are
quick: four drafts per connection, a two-second authentication deadline and
a one-second ping interval.
"""

from __future__ import annotations

import shutil
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from pathlib import Path

import pytest
import pytest_asyncio

from tests.conftest import HubProcess, unavailable
from tests.hocuspocus.hpclient import HocusClient
from tests.integration.node_client import JS_DIR
from tests.live.helpers import PUBLISH_KEY, mint

ROOM = "typhoon-drill"  # seeded: owner dgdaily; members dgrtv, dgrelease, humen, changan, shatian, binhaiwan
HUB_ENV = {
    "TONGPIN_AUTH": "required",
    "TONGPIN_LIVE_PUBLISH_KEYS": PUBLISH_KEY,
    "TONGPIN_MAX_DRAFTS_PER_CONNECTION": "4",
    "TONGPIN_AUTH_TIMEOUT": "2",
    "TONGPIN_PING_INTERVAL": "1",
    "TONGPIN_AUTH_CHECK_INTERVAL": "0.2",
    "TONGPIN_UNLOAD_GRACE": "1",
    "TONGPIN_WORKERS": "none",  # no background jobs: the sockets are under test
}
# Log lines that mean the hub failed at something, not that a client was refused.
FAILURES = (
    "ERROR tongpin.hocuspocus",
    "ERROR tongpin.connection",
    "Exception in ASGI application",
    "Task exception was never retrieved",
)


class AuthHub:
    """A hub process with what these tests need of it."""

    def __init__(self, proc: HubProcess) -> None:
        self.proc = proc

    @property
    def url(self) -> str:
        return f"ws://127.0.0.1:{self.proc.port}/hocuspocus"

    def token(self, user: str, **claims: object) -> str:
        return mint(self.proc.data_dir, user, **claims)

    def yjs_url(self, draft: str, user: str, **params: str) -> str:
        return self.proc.ws_url(ROOM, draft, token=self.token(user), **params)


@pytest.fixture(scope="module")
def auth_hub(tmp_path_factory: pytest.TempPathFactory) -> Iterator[AuthHub]:
    proc = HubProcess(tmp_path_factory.mktemp("hocuspocus-hub"), env=HUB_ENV).start()
    try:
        yield AuthHub(proc)
    finally:
        proc.stop()
    log = proc.log()
    failed = [line for line in log.splitlines() if any(f in line for f in FAILURES)]
    assert not failed, "the hub logged failures:\n" + "\n".join(failed[:20])


@pytest.fixture(scope="session")
def hp_node() -> str:
    node = shutil.which("node")
    if node is None:
        unavailable("Node.js (for the npm @hocuspocus/provider clients)", "node is not on PATH")
    for package in ("@hocuspocus/provider", "@hocuspocus/provider-v3", "yjs", "ws"):
        if not (JS_DIR / "node_modules" / package / "package.json").exists():
            unavailable(f"the npm package {package}", "run `npm ci` in tests/js (scripts/bootstrap.sh --with-node)")
    return node


HocusFactory = Callable[..., Awaitable[HocusClient]]


@pytest_asyncio.fixture
async def hp_clients(hp_node: str) -> AsyncIterator[HocusFactory]:
    """``await hp_clients(name, version="v4")`` starts one provider process; all end at teardown."""
    started: list[HocusClient] = []

    async def start(name: str = "hp", version: str = "v4") -> HocusClient:
        client = await HocusClient.start_driver(hp_node, f"{name}#{len(started)}", version)
        started.append(client)
        return client

    yield start
    for client in started:
        await client.close()


def sqlite_path(hub: AuthHub) -> Path:
    return hub.proc.sqlite_path
