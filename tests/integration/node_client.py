"""Drive ``tests/js/yclient.mjs``: a real npm ``y-websocket`` + ``yjs`` client in a Node process.

One process per client, so killing it is what a dying browser tab looks like
to the hub. Commands are JSON lines (see the header of ``yclient.mjs``);
every wait happens inside Node, on the client's own events, with a timeout.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import signal
from pathlib import Path
from typing import Any, Self

from tests.ypy_client import decode_state_vector

JS_DIR = Path(__file__).resolve().parents[1] / "js"
DRIVER = JS_DIR / "yclient.mjs"


class NodeClientError(AssertionError):
    """A command failed in the Node client (a wait timed out, or it died)."""


class NodeClient:
    def __init__(self, proc: asyncio.subprocess.Process, name: str) -> None:
        self.proc = proc
        self.name = name
        self.client_id: int = 0
        self.frozen = False
        self.events: list[dict[str, Any]] = []
        self._next = 0
        self._pending: dict[int, asyncio.Future[dict[str, Any]]] = {}
        self._ready: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        self._stderr = bytearray()
        self._reader = asyncio.get_running_loop().create_task(self._read(), name=f"{name} stdout")
        self._err_reader = asyncio.get_running_loop().create_task(self._read_stderr(), name=f"{name} stderr")

    def __repr__(self) -> str:
        return f"<NodeClient {self.name} id={self.client_id}>"

    @classmethod
    async def start(cls, node: str, name: str = "node", *args: str, driver: Path = DRIVER) -> Self:
        """Start ``driver``; ``args`` go to it (``"v4"``: @y/websocket 4 instead of y-websocket 3)."""
        proc = await asyncio.create_subprocess_exec(
            node,
            str(driver),
            *args,
            cwd=JS_DIR,
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
            limit=16 * 1024 * 1024,  # a state dump after many reconnects is one long line
        )
        client = cls(proc, name)
        try:
            async with asyncio.timeout(20):
                ready = await client._ready
        except BaseException:
            client.kill()
            raise
        client.client_id = int(ready["clientID"])
        return client

    async def _read(self) -> None:
        assert self.proc.stdout is not None
        while True:
            line = await self.proc.stdout.readline()
            if not line:
                break
            msg = json.loads(line)
            if "id" in msg and msg["id"] is not None:
                fut = self._pending.pop(int(msg["id"]), None)
                if fut is not None and not fut.done():
                    fut.set_result(msg)
            elif msg.get("event") == "ready":
                if not self._ready.done():
                    self._ready.set_result(msg)
            else:
                self.events.append(msg)
        gone = NodeClientError(f"{self.name}: the Node client exited\n{self.stderr()}")
        if not self._ready.done():
            self._ready.set_exception(gone)
        for fut in self._pending.values():
            if not fut.done():
                fut.set_exception(gone)
        self._pending.clear()

    async def _read_stderr(self) -> None:
        assert self.proc.stderr is not None
        while chunk := await self.proc.stderr.read(4096):
            self._stderr += chunk
            del self._stderr[:-20_000]

    def stderr(self) -> str:
        return self._stderr.decode("utf-8", "replace")

    async def call(self, cmd: str, *, within: float = 15.0, **args: Any) -> dict[str, Any]:
        """Run one command; its answer's ``result``. Raises NodeClientError on failure."""
        if self.proc.returncode is not None:
            raise NodeClientError(f"{self.name}: the Node client is not running\n{self.stderr()}")
        self._next += 1
        ident = self._next
        fut: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        self._pending[ident] = fut
        assert self.proc.stdin is not None
        self.proc.stdin.write(json.dumps({"id": ident, "cmd": cmd, **args}).encode() + b"\n")
        await self.proc.stdin.drain()
        async with asyncio.timeout(within + 5):
            answer = await fut
        if not answer["ok"]:
            raise NodeClientError(f"{self.name}: {cmd} failed: {answer['error']}")
        result: dict[str, Any] = answer["result"]
        return result

    # -- commands ---------------------------------------------------------

    async def connect(self, server: str, room: str, **params: str) -> dict[str, Any]:
        """Open the provider on ``server`` (``ws://host:port/yjs``) for ``room`` (``room/draft``)."""
        return await self.call("connect", server=server, room=room, params=params)

    async def disconnect(self) -> dict[str, Any]:
        return await self.call("disconnect")

    async def insert(self, index: int, text: str) -> dict[str, Any]:
        return await self.call("insert", index=index, text=text)

    async def delete(self, index: int, length: int) -> dict[str, Any]:
        return await self.call("delete", index=index, length=length)

    async def set_awareness(self, state: Any) -> dict[str, Any]:
        return await self.call("awareness", state=state)

    async def report(self) -> dict[str, Any]:
        return await self.call("report")

    async def document(self, doc: str | None = None) -> dict[str, Any]:
        """The report of the document ``doc`` (text, state vector, ...); this client has just one."""
        return await self.report()

    async def insert_into(self, doc: str | None, index: int, text: str) -> dict[str, Any]:
        """``insert`` into the document ``doc``; this client has just one."""
        return await self.insert(index, text)

    async def delete_from(self, doc: str | None, index: int, length: int) -> dict[str, Any]:
        return await self.delete(index, length)

    async def wait(self, what: str, value: Any = None, *, within: float = 10.0) -> dict[str, Any]:
        """Until the condition ``what`` (see ``conditions`` in yclient.mjs) holds; the report then."""
        return await self.call("wait", within=within, what=what, value=value, timeout=within)

    async def wait_synced(self, within: float = 10.0) -> dict[str, Any]:
        return await self.wait("synced", within=within)

    async def text(self) -> str:
        return str((await self.report())["text"])

    async def state_vector(self) -> dict[int, int]:
        raw = base64.b64decode((await self.report())["stateVector"])
        return decode_state_vector(raw)

    # -- process ----------------------------------------------------------

    def kill(self) -> None:
        """SIGKILL: the tab dies with no close frame and no goodbye."""
        if self.proc.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                self.proc.send_signal(signal.SIGKILL)

    def stop_process(self) -> None:
        """SIGSTOP: a frozen tab; its TCP connection stays up but nothing answers."""
        self.frozen = True
        self.proc.send_signal(signal.SIGSTOP)

    async def close(self) -> None:
        if self.proc.returncode is None and not self.frozen:
            with contextlib.suppress(Exception):
                async with asyncio.timeout(3):
                    await self.call("exit", within=1)
                    await self.proc.wait()
        if self.proc.returncode is None:
            self.kill()
            with contextlib.suppress(ProcessLookupError):
                self.proc.send_signal(signal.SIGCONT)
        await self.proc.wait()
        for task in (self._reader, self._err_reader):
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        if self.proc.stdin is not None:
            self.proc.stdin.close()
