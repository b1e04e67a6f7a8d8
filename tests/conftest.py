"""Shared fixtures: real hub processes, real Node Yjs clients, real services.

- ``hub_factory`` starts ``tongpin serve --port 0 --data-dir <tmp>`` as a
  subprocess and parses its port from the first stdout line; the
  ``HubProcess`` it returns can be SIGKILLed, SIGTERMed and restarted on the
  same data directory (and, by default, the same port, so clients that
  reconnect on their own find it again). ``hub`` is one such hub.
- ``node_clients`` starts Node processes running ``tests/js/yclient.mjs``
  (unmodified npm ``y-websocket`` + ``yjs``).
- ``postgres_url`` / ``redis_url``: the real services named by
  ``TONGPIN_TEST_DATABASE_URL`` / ``TONGPIN_TEST_REDIS_URL``. Absent, the
  test is skipped with a loud reason, except under ``CI=true``, where it fails.

Hubs run with authentication off (``TONGPIN_AUTH=off``, loopback only) and
without per-connection rate limits, so these tests exercise the core; the
identity tests start their own hubs with authentication on.
"""

from __future__ import annotations

import asyncio
import os
import re
import select
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import ClassVar, NoReturn, Self

import httpx
import pytest
import pytest_asyncio

from tests.integration.node_client import JS_DIR, NodeClient

ROOT = Path(__file__).resolve().parents[1]
LISTENING = re.compile(rb"listening on http://([\w.:\[\]-]+):(\d+)/")
IN_CI = os.environ.get("CI", "").lower() == "true"
DEFAULT_DATABASE_URL = "postgresql://postgres@127.0.0.1:5432/test"
DEFAULT_REDIS_URL = "redis://127.0.0.1:6379/0"

# Settings for every test hub, as environment variables: a variable the hub
# does not know is ignored, so these do not break a hub that lacks a setting.
HUB_ENV = {
    "TONGPIN_AUTH": "off",  # the core is under test here; tests/identity tests authentication
    "TONGPIN_MSG_RATE": "0",  # no per-connection rate limits: tests type in bursts
    "TONGPIN_BYTE_RATE": "0",
    "TONGPIN_LOG_LEVEL": "info",
    "PYTHONFAULTHANDLER": "1",  # SIGABRT on a hung hub dumps every thread's stack
}


def unavailable(what: str, why: object) -> NoReturn:
    """Skip loudly, or fail when CI=true: CI must never pass by skipping."""
    message = f"NOT TESTED: {what} is unavailable ({why})"
    if IN_CI:
        pytest.fail(f"{message}; CI=true requires it", pytrace=False)
    pytest.skip(message)


# -- hub processes -----------------------------------------------------------------


def _tongpin_command() -> list[str]:
    script = Path(sys.executable).parent / "tongpin"
    return [str(script)] if script.exists() else [sys.executable, "-m", "hub.cli"]


class HubProcess:
    """One ``tongpin serve`` process on a data directory that outlives it.

    The one launcher of hub processes in the tests: ``tests/identity/hubproc``
    and ``tests/live/helpers`` subclass it with their own ``BASE_ENV``.
    """

    BASE_ENV: ClassVar[dict[str, str]] = HUB_ENV  # under the caller's ``env``

    def __init__(self, data_dir: Path, args: tuple[str, ...] = (), env: dict[str, str] | None = None) -> None:
        self.data_dir = data_dir
        self.args = args
        self.env = {k: v for k, v in os.environ.items() if not k.startswith("TONGPIN_")}
        self.env.update(self.BASE_ENV)
        self.env.update(env or {})
        self.proc: subprocess.Popen[bytes] | None = None
        self.port = 0
        self.starts = 0
        self.logs: list[Path] = []

    # -- lifecycle -------------------------------------------------------

    def start(self, port: int = 0, within: float = 30.0) -> Self:
        assert self.proc is None or self.proc.poll() is not None, "hub already running"
        self._release()
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self.starts += 1
        # Unique per process: several processes may share one data directory.
        log_path = self.data_dir / f"hub-{time.monotonic_ns()}.log"
        self.logs.append(log_path)
        cmd = [*_tongpin_command(), "serve", "--port", str(port), "--data-dir", str(self.data_dir), *self.args]
        deadline = time.monotonic() + within
        while True:
            with log_path.open("wb") as log:
                self.proc = subprocess.Popen(cmd, cwd=ROOT, env=self.env, stdout=subprocess.PIPE, stderr=log)
            line = self._first_line(deadline)
            match = LISTENING.search(line)
            if match is not None:
                self.port = int(match.group(2))
                return self
            self.proc.wait(10)
            self._release()
            # The old port can be briefly taken when restarting on it; retry until the deadline.
            if port and b"address already in use" in log_path.read_bytes().lower() and time.monotonic() < deadline:
                continue
            raise RuntimeError(f"hub did not start: {line!r}\n{self.log()[-20_000:]}")

    def _release(self) -> None:
        if self.proc is not None and self.proc.stdout is not None:
            self.proc.stdout.close()

    def _first_line(self, deadline: float) -> bytes:
        assert self.proc is not None and self.proc.stdout is not None
        while time.monotonic() < deadline and self.proc.poll() is None:
            ready, _, _ = select.select([self.proc.stdout], [], [], 0.05)
            if ready:
                return self.proc.stdout.readline()
        if self.proc.poll() is None:
            self.proc.kill()
        return b""

    @property
    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    def kill(self) -> None:
        """SIGKILL: no flush, no close frames; the kernel resets the sockets."""
        assert self.proc is not None and self.proc.poll() is None, "hub not running"
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(10)

    def terminate(self, within: float = 20.0) -> int:
        """SIGTERM and wait for the exit; on a hang, dump the hub's stacks and fail."""
        assert self.proc is not None and self.proc.poll() is None, "hub not running"
        self.proc.send_signal(signal.SIGTERM)
        return self.wait_exit(within)

    def wait_exit(self, within: float = 20.0) -> int:
        assert self.proc is not None
        try:
            return self.proc.wait(within)
        except subprocess.TimeoutExpired:
            self.proc.send_signal(signal.SIGABRT)  # faulthandler writes the stacks to the log
            self.proc.wait(10)
            raise AssertionError(f"hub did not exit within {within}s of SIGTERM\n{self.log()[-20_000:]}") from None

    async def sigkill(self) -> None:
        await asyncio.to_thread(self.kill)

    async def sigterm(self, within: float = 20.0) -> int:
        return await asyncio.to_thread(self.terminate, within)

    async def restart(self, *, same_port: bool = True) -> Self:
        """Start again on the same data directory (the previous process must be gone)."""
        return await asyncio.to_thread(self.start, self.port if same_port else 0)

    def stop(self) -> None:
        """Teardown: SIGTERM, and SIGKILL if that does not end it."""
        if self.proc is None:
            return
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)
        self._release()

    @property
    def log_path(self) -> Path | None:
        """Where the newest process writes its stderr."""
        return self.logs[-1] if self.logs else None

    def log(self) -> str:
        """The stderr of the newest process."""
        path = self.log_path
        if path is None or not path.exists():
            return ""
        return path.read_text(encoding="utf-8", errors="replace")

    # -- addresses -------------------------------------------------------

    @property
    def http(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def ws_base(self) -> str:
        """What a y-websocket provider takes as its server URL."""
        return f"ws://127.0.0.1:{self.port}/yjs"

    def ws_url(self, room: str, draft: str, **params: str) -> str:
        query = "&".join(f"{k}={v}" for k, v in params.items())
        return f"{self.ws_base}/{room}/{draft}" + (f"?{query}" if query else "")

    @property
    def sqlite_path(self) -> Path:
        return self.data_dir / "tongpin.sqlite3"

    # -- observation -----------------------------------------------------

    async def metrics(self) -> dict[str, float]:
        """``/metrics`` as ``{name: value}`` (labels dropped; one node per process)."""
        async with httpx.AsyncClient(timeout=10) as client:
            response = await client.get(f"{self.http}/metrics")
        response.raise_for_status()
        out = {}
        for line in response.text.splitlines():
            if line and not line.startswith("#"):
                name, _, value = line.rpartition(" ")
                out[name.split("{", 1)[0]] = float(value)
        return out

    async def metric(self, name: str) -> float:
        values = await self.metrics()
        assert name in values, f"/metrics has no {name}"
        return values[name]

    async def wait_metric(
        self, name: str, condition: Callable[[float], bool], what: str, within: float = 10.0
    ) -> float:
        """Poll ``/metrics`` until ``condition(value of name)``; fail with ``what`` after ``within`` s."""
        value = float("nan")
        try:
            async with asyncio.timeout(within):
                while True:
                    value = await self.metric(name)
                    if condition(value):
                        return value
                    await asyncio.sleep(0.02)
        except TimeoutError:
            raise AssertionError(f"{name} = {value} after {within}s; expected {what}") from None


HubFactory = Callable[..., HubProcess]


@pytest.fixture
def hub_factory(tmp_path: Path) -> Iterator[HubFactory]:
    """``hub_factory(*flags, env=None, data_dir=None)`` starts a hub; all are stopped at teardown."""
    hubs: list[HubProcess] = []

    def start(*args: str, env: dict[str, str] | None = None, data_dir: Path | None = None) -> HubProcess:
        where = data_dir if data_dir is not None else tmp_path / f"hub{len(hubs)}"
        hub = HubProcess(where, tuple(args), env)
        hubs.append(hub)
        return hub.start()

    yield start
    for hub in hubs:
        hub.stop()


@pytest.fixture
def hub(hub_factory: HubFactory) -> HubProcess:
    return hub_factory()


# -- Node clients ------------------------------------------------------------------


@pytest.fixture(scope="session")
def node_binary() -> str:
    node = shutil.which("node")
    if node is None:
        unavailable("Node.js (for the npm y-websocket clients)", "node is not on PATH")
    for package in ("yjs", "y-websocket", "ws", "lib0"):
        if not (JS_DIR / "node_modules" / package / "package.json").exists():
            unavailable(f"the npm package {package}", "run `npm ci` in tests/js (scripts/bootstrap.sh --with-node)")
    return node


NodeFactory = Callable[..., Awaitable[NodeClient]]


@pytest_asyncio.fixture
async def node_clients(node_binary: str) -> AsyncIterator[NodeFactory]:
    """``await node_clients(name)`` starts one Node y-websocket client; all end at teardown.

    ``await node_clients(name, "v4")`` starts an @y/websocket 4 client instead.
    """
    started: list[NodeClient] = []

    async def start(name: str = "node", *args: str) -> NodeClient:
        client = await NodeClient.start(node_binary, f"{name}#{len(started)}", *args)
        started.append(client)
        return client

    yield start
    await asyncio.gather(*(c.close() for c in started), return_exceptions=True)


# -- services ------------------------------------------------------------------------


def _in_thread(fn: Callable[[], object]) -> None:
    """Run a blocking probe off the test's event loop thread."""
    with ThreadPoolExecutor(max_workers=1) as pool:
        pool.submit(fn).result()


@pytest.fixture(scope="session")
def postgres_url() -> str:
    url = os.environ.get("TONGPIN_TEST_DATABASE_URL", DEFAULT_DATABASE_URL)
    import asyncpg  # type: ignore[import-untyped,unused-ignore]

    async def probe() -> None:
        conn = await asyncpg.connect(url, timeout=3)
        await conn.close()

    try:
        _in_thread(lambda: asyncio.run(probe()))
    except (OSError, TimeoutError, asyncpg.PostgresError) as exc:
        unavailable(f"PostgreSQL at {url} (TONGPIN_TEST_DATABASE_URL)", exc)
    return url


@pytest.fixture(scope="session")
def redis_url() -> str:
    url = os.environ.get("TONGPIN_TEST_REDIS_URL", DEFAULT_REDIS_URL)
    import redis
    from redis.exceptions import RedisError

    def probe() -> None:
        client = redis.Redis.from_url(url, socket_connect_timeout=3)
        try:
            client.ping()
        finally:
            client.close()

    try:
        _in_thread(probe)
    except (OSError, RedisError) as exc:
        unavailable(f"Redis at {url} (TONGPIN_TEST_REDIS_URL)", exc)
    return url
