"""Running the app under uvicorn, with Tongpin's startup line and shutdown order."""

from __future__ import annotations

import contextlib
import logging
import signal
import socket
import sys
from collections.abc import Iterator, MutableMapping
from typing import Any

import uvicorn

from hub.app import create_app
from hub.config import Settings
from hub.http_protocol import with_head_timeout
from hub.state import Hub
from hub.ws_protocol import TongpinWSProtocol
from rooms.store import SchemaTooNew, StoreUnavailable

__all__ = ["CleanSigterm", "StartupRefusal", "TongpinServer", "build_server"]

# What stops a node from starting that the operator fixes without reading a
# traceback: a database schema newer than this code, a store it cannot reach.
StartupRefusal = SchemaTooNew | StoreUnavailable

Message = MutableMapping[str, Any]

log = logging.getLogger("tongpin.server")


class _StartupRefusals:
    """The app, with a ``StartupRefusal`` in the lifespan kept instead of logged.

    Starlette reports a failed start-up to uvicorn with the traceback as its
    message, and uvicorn logs it. For a ``StartupRefusal`` the message is
    dropped and the error kept in ``error``, for ``tongpin serve`` to print
    as one line; any other failure keeps its traceback.
    """

    def __init__(self, app: Any) -> None:
        self.app = app
        self.error: StartupRefusal | None = None

    async def __call__(self, scope: Message, receive: Any, send: Any) -> None:
        if scope["type"] != "lifespan":
            await self.app(scope, receive, send)
            return
        held: list[Message] = []

        async def hold_failure(message: Message) -> None:
            if message["type"] == "lifespan.startup.failed":
                held.append(message)  # sent once the exception shows what failed
            else:
                await send(message)

        try:
            await self.app(scope, receive, hold_failure)
        except BaseException as exc:
            if held and isinstance(exc, StartupRefusal):
                self.error = exc
                held[0] = {**held[0], "message": ""}
            raise
        finally:
            for message in held:
                await send(message)


class CleanSigterm(uvicorn.Server):
    """uvicorn's server, except that a SIGTERM it has shut down for gracefully ends with status 0.

    uvicorn re-raises the signal once its shutdown is done, so the process
    dies of it (status -15), which supervisors report as a failure. A clean
    stop is the answer to SIGTERM, not a failure: the process exits 0. A
    shutdown that raised still fails, and SIGINT is re-raised as before.
    """

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        with super().capture_signals():
            yield
            self._captured_signals[:] = [s for s in self._captured_signals if s != signal.SIGTERM]


class TongpinServer(CleanSigterm):
    """uvicorn's server, with the hub flushed between "stop accepting" and 1012.

    A ``StartupRefusal`` ends ``run`` quietly, with ``startup_error`` set.
    """

    def __init__(self, config: uvicorn.Config, hub: Hub) -> None:
        super().__init__(config)
        self.hub = hub
        self._refusals = _StartupRefusals(config.app)
        config.app = self._refusals

    @property
    def startup_error(self) -> StartupRefusal | None:
        return self._refusals.error

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        try:
            await super().startup(sockets)
        except SystemExit:  # uvicorn's answer to a failed lifespan start-up
            if self.startup_error is None:
                raise
            self.should_exit = True
            return
        if self.should_exit or not self.servers:
            return
        host, port = self.servers[0].sockets[0].getsockname()[:2]
        shown = "127.0.0.1" if host in ("0.0.0.0", "::") else host
        print(f"Tongpin hub {self.hub.settings.node_id} listening on http://{shown}:{port}/", flush=True)

    async def shutdown(self, sockets: list[socket.socket] | None = None) -> None:
        for server in self.servers:
            server.close()  # 1. stop accepting
        await self.hub.quiesce()  # 2. flush stored updates and committed live events; /healthz: stopping
        await super().shutdown(sockets)  # 3. close clients with 1012, then the lifespan (workers, stores)


def build_server(settings: Settings) -> TongpinServer:
    hub = Hub(settings)
    app = create_app(settings, hub)
    config = uvicorn.Config(
        app,
        host=settings.host,
        port=settings.port,
        http=with_head_timeout(settings.head_timeout),
        ws=TongpinWSProtocol,
        ws_max_size=settings.max_frame,
        ws_ping_interval=settings.ping_interval,
        ws_ping_timeout=settings.ping_timeout,
        ws_per_message_deflate=False,
        lifespan="on",
        log_level=settings.log_level,
        access_log=False,  # request lines would carry ?token=
        timeout_graceful_shutdown=max(1, round(settings.shutdown_timeout)),
    )
    return TongpinServer(config, hub)


def configure_logging(level: str, node_id: str = "-") -> None:
    """Log lines carry the node id, so a cluster's logs can be merged and still read."""
    node = node_id.replace("%", "%%")
    logging.basicConfig(
        level=level.upper(),
        stream=sys.stderr,
        format=f"%(asctime)s {node} %(levelname)s %(name)s: %(message)s",
    )
