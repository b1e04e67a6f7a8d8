"""``tongpin worker NAME...``: background jobs in a process of their own.

A worker process opens what jobs need and nothing else: the document store,
the monitor and workflow stores, the live event store and a broker connection to announce
events (no HTTP API, no websockets, no presence). Its jobs run under the same
leases as those hosted by ``tongpin serve`` (``workers.runtime``), so any
mix of hubs and workers hosting a job runs it exactly once at a time.

It serves ``GET /healthz`` (the jobs and whether this process holds their
leases) and ``GET /metrics`` (``tongpin_worker_*``) on
``TONGPIN_WORKER_PORT``, prints ``Tongpin worker NODE listening on
http://HOST:PORT/`` once it listens, and stops cleanly on SIGTERM: ticks
cancelled, leases released, stores closed.

With the embedded SQLite store and no Redis, the broker is in-process, so
hubs see a worker's events through their store poll (within 2 s); with
Redis they see them at once.
"""

from __future__ import annotations

import contextlib
import logging
import socket
from collections.abc import AsyncIterator, Sequence

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route

from hub.config import Settings
from hub.live import BROKER_BATCH, EVENTS_CHANNEL, make_event_store, make_live_broker
from hub.state import make_store
from hub.workflow_api import make_workflow_store
from rooms.events import Event, Publisher, encode_events
from workers.jobs import make_host, make_monitor_store
from workers.runtime import Parts, WorkerHost

__all__ = ["WorkerNode", "build_worker_server"]

log = logging.getLogger("tongpin.worker")


class WorkerNode:
    """The parts a worker process runs jobs with, and its lifecycle."""

    def __init__(self, settings: Settings, names: Sequence[str]) -> None:
        self.settings = settings
        self.names = list(names)
        self.store = make_store(settings)
        self.monitor = make_monitor_store(settings)
        self.workflow = make_workflow_store(settings)
        self.events = make_event_store(settings)
        self.broker = make_live_broker(settings)
        self.publisher = Publisher(self.events, self._announce)
        self.host: WorkerHost | None = None

    async def __aenter__(self) -> WorkerNode:
        await self.store.open()
        await self.monitor.open()
        await self.workflow.open()
        await self.events.open()
        await self.broker.open(self)
        workflow = self.workflow
        parts = Parts(self.settings, self.store, self.publisher, self.monitor, workflow, workflow.on_duty_unit)
        self.host = make_host(parts, self.names)
        await self.host.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self.host is not None:
            await self.host.stop()
        await self.broker.close()
        await self.events.close()
        await self.workflow.close()
        await self.monitor.close()
        await self.store.close()

    def _announce(self, events: Sequence[Event]) -> None:
        for i in range(0, len(events), BROKER_BATCH):
            self.broker.publish(EVENTS_CHANNEL, encode_events(events[i : i + BROKER_BATCH]))

    # The broker's listener: a worker publishes and subscribes to nothing.
    def on_message(self, channel: str, sender: str, data: bytes) -> None:
        pass

    def on_down(self) -> None:
        log.warning("broker down: events reach the hubs through their store poll")

    def on_up(self) -> None:
        log.info("broker back")

    def health(self) -> dict[str, object]:
        stats = self.host.stats if self.host is not None else {}
        return {
            "status": "ok",
            "node": self.settings.node_id,
            "jobs": {
                name: {"lease_held": s.held, "ticks": s.ticks, "errors": s.errors, "last_success_at": s.last_success_at}
                for name, s in stats.items()
            },
        }


class WorkerServer(uvicorn.Server):
    """uvicorn, printing Tongpin's "listening" line once the port is bound."""

    def __init__(self, config: uvicorn.Config, node: WorkerNode) -> None:
        super().__init__(config)
        self.node = node

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        await super().startup(sockets)
        if self.should_exit or not self.servers:
            return
        host, port = self.servers[0].sockets[0].getsockname()[:2]
        print(f"Tongpin worker {self.node.settings.node_id} listening on http://{host}:{port}/", flush=True)


def build_worker_server(settings: Settings, names: Sequence[str]) -> WorkerServer:
    node = WorkerNode(settings, names)

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        async with node:
            yield

    async def healthz(request: Request) -> Response:
        return JSONResponse(node.health())

    async def metrics(request: Request) -> Response:
        labels = f'node="{settings.node_id}"'
        lines = list(node.host.metric_lines(labels)) if node.host is not None else []
        return PlainTextResponse("\n".join(lines) + "\n", media_type="text/plain; version=0.0.4")

    app = Starlette(routes=[Route("/healthz", healthz), Route("/metrics", metrics)], lifespan=lifespan)
    config = uvicorn.Config(
        app,
        host=settings.host,
        port=settings.worker_port,
        lifespan="on",
        log_level=settings.log_level,
        access_log=False,
        timeout_graceful_shutdown=max(1, round(settings.shutdown_timeout)),
    )
    return WorkerServer(config, node)
