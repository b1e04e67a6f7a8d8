"""pycrdt-websocket (PyPI, unmodified) as a benchmark peer.

    python -m bench.peers.pycrdt_server [--port 0] [--store DB_PATH]

Its ``WebsocketServer`` behind its own ``ASGIServer`` adapter, run by uvicorn
with the same websocket implementation Tongpin uses (websockets sans-I/O, no
compression). The room name is the request path, as the package does by
default.

With ``--store`` each room gets a ``SQLiteYStore`` in that database file. The
package does not load a room from its store by itself; like its users do, the
room is created not ready, the stored updates are applied, then it is marked
ready. Prints ``pycrdt-websocket listening on http://127.0.0.1:PORT/``.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
from collections.abc import AsyncIterator
from typing import Any

import uvicorn
from pycrdt.store import SQLiteYStore, YDocNotFound
from pycrdt.websocket import ASGIServer, WebsocketServer, YRoom


class StoredWebsocketServer(WebsocketServer):
    """Rooms persisted in one SQLiteYStore database, loaded on first use."""

    def __init__(self, db_path: str, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.db_path = db_path

    async def get_room(self, name: str) -> YRoom:
        if name not in self.rooms:
            store_class = type("BenchYStore", (SQLiteYStore,), {"db_path": self.db_path})
            ystore = store_class(path=name)
            room = YRoom(ready=False, ystore=ystore, log=self.log)
            self.rooms[name] = room
            assert self._task_group is not None
            await self._task_group.start(ystore.start)
            await self.start_room(room)
            with contextlib.suppress(YDocNotFound):
                await ystore.apply_updates(room.ydoc)
            room.ready = True
        room = self.rooms[name]
        await self.start_room(room)
        return room


def build_app(store: str | None) -> tuple[Any, WebsocketServer]:
    server: WebsocketServer
    if store:
        server = StoredWebsocketServer(store, rooms_ready=True, auto_clean_rooms=False)
    else:
        server = WebsocketServer(rooms_ready=True, auto_clean_rooms=True)
    asgi = ASGIServer(server)

    @contextlib.asynccontextmanager
    async def lifespan() -> AsyncIterator[None]:
        async with server:
            yield

    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] == "lifespan":
            message = await receive()
            assert message["type"] == "lifespan.startup"
            async with lifespan():
                await send({"type": "lifespan.startup.complete"})
                message = await receive()
            await send({"type": "lifespan.shutdown.complete"})
            return
        await asgi(scope, receive, send)

    return app, server


class PrintingServer(uvicorn.Server):
    async def startup(self, sockets: Any = None) -> None:
        await super().startup(sockets)
        if self.servers:
            port = self.servers[0].sockets[0].getsockname()[1]
            print(f"pycrdt-websocket listening on http://127.0.0.1:{port}/", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--store", default=None, help="SQLiteYStore database file (default: no persistence)")
    args = parser.parse_args()
    app, _ = build_app(args.store)
    config = uvicorn.Config(
        app,
        host="127.0.0.1",
        port=args.port,
        ws="websockets-sansio",
        ws_per_message_deflate=False,
        ws_max_size=8 * 1024 * 1024,
        lifespan="on",
        log_level="warning",
        access_log=False,
        timeout_graceful_shutdown=2,
    )
    asyncio.run(PrintingServer(config).serve())


if __name__ == "__main__":
    main()
