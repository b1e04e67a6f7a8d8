"""Running the app under uvicorn, with Tongpin's startup line and shutdown order."""

from __future__ import annotations

import logging
import socket
import sys

import uvicorn

from hub.app import create_app
from hub.config import Settings
from hub.http_protocol import with_head_timeout
from hub.state import Hub
from hub.ws_protocol import TongpinWSProtocol

__all__ = ["TongpinServer", "build_server"]

log = logging.getLogger("tongpin.server")


class TongpinServer(uvicorn.Server):
    """uvicorn's server, with the hub flushed between "stop accepting" and 1012."""

    def __init__(self, config: uvicorn.Config, hub: Hub) -> None:
        super().__init__(config)
        self.hub = hub

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        await super().startup(sockets)
        if self.should_exit or not self.servers:
            return
        host, port = self.servers[0].sockets[0].getsockname()[:2]
        shown = "127.0.0.1" if host in ("0.0.0.0", "::") else host
        print(f"Tongpin hub {self.hub.settings.node_id} listening on http://{shown}:{port}/", flush=True)

    async def shutdown(self, sockets: list[socket.socket] | None = None) -> None:
        for server in self.servers:
            server.close()  # 1. stop accepting
        await self.hub.quiesce()  # 2. flush stored updates
        await super().shutdown(sockets)  # 3. close clients with 1012, then the lifespan


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
