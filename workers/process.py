"""``tongpin worker NAME...``: background jobs in a process of their own.

A worker process opens what jobs need and nothing else: the document store,
the monitor and workflow stores, the live event store and a broker connection to announce
events (no HTTP API, no websockets, no presence). Its jobs run under the same
leases as those hosted by ``tongpin serve`` (``workers.runtime``), so any
mix of hubs and workers hosting a job runs it exactly once at a time.

It serves ``GET /healthz`` (each job's state and whether this process holds
its lease; 503 ``degraded`` while a job fails lastingly or the broker is
down, 503 ``stopping`` once stopping) and ``GET /metrics``
(``tongpin_worker_*``) on ``TONGPIN_WORKER_PORT``, prints ``Tongpin worker
NODE listening on http://HOST:PORT/`` once it listens, and stops cleanly on
SIGTERM, exiting 0: no new tick, a running one finishes within
``shutdown_timeout`` (else it is cancelled, leaving no half-done change),
leases released so another instance takes over at once, stores closed.

With the embedded SQLite store and no Redis, the broker is in-process, so
hubs see a worker's events through their store poll (within 2 s); with
Redis they see them at once.
"""

from __future__ import annotations

import contextlib
import logging
import socket
import time
from collections.abc import AsyncIterator, Sequence

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route

from hub.config import Settings
from hub.live import BROKER_BATCH, EVENTS_CHANNEL, make_event_store, make_live_broker
from hub.server import CleanSigterm
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
        self.started = time.monotonic()
        self.stopping = False

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
        self.stopping = True
        if self.host is not None:
            await self.host.stop(self.settings.shutdown_timeout)
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
        """As the hub's: ``ok``; ``degraded`` while a job fails lastingly (``workers.runtime``) or the
        broker is down (events then reach hubs only through their 2 s store poll); ``stopping``."""
        host = self.host
        failing = host.failing() if host is not None else {}
        degraded = bool(failing) or not self.broker.up
        return {
            "status": "stopping" if self.stopping else "degraded" if degraded else "ok",
            "node": self.settings.node_id,
            "broker": "ok" if self.broker.up else "down",
            "stopping": self.stopping,
            "jobs": host.health() if host is not None else {},
            "failing_jobs": failing,
        }

    def metric_lines(self) -> list[str]:
        labels = f'node="{self.settings.node_id}"'
        rows = [
            ("tongpin_uptime_seconds", "gauge", "Seconds since the worker started.", time.monotonic() - self.started),
            ("tongpin_broker_up", "gauge", "1 while the broker is connected.", int(self.broker.up)),
        ]
        out = []
        for name, kind, help_, value in rows:
            out += [f"# HELP {name} {help_}", f"# TYPE {name} {kind}", f"{name}{{{labels}}} {value}"]
        if self.host is not None:
            out.extend(self.host.metric_lines(labels))
        return out


class WorkerServer(CleanSigterm):
    """uvicorn, printing Tongpin's "listening" line once the port is bound, exiting 0 after SIGTERM."""

    def __init__(self, config: uvicorn.Config, node: WorkerNode) -> None:
        super().__init__(config)
        self.node = node

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        await super().startup(sockets)
        if self.should_exit or not self.servers:
            return
        host, port = self.servers[0].sockets[0].getsockname()[:2]
        print(f"Tongpin worker {self.node.settings.node_id} listening on http://{host}:{port}/", flush=True)

    async def shutdown(self, sockets: list[socket.socket] | None = None) -> None:
        self.node.stopping = True  # /healthz: stopping, while the jobs finish and release their leases
        await super().shutdown(sockets)


def build_worker_server(settings: Settings, names: Sequence[str]) -> WorkerServer:
    node = WorkerNode(settings, names)

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        async with node:
            yield

    async def healthz(request: Request) -> Response:
        health = node.health()
        return JSONResponse(health, status_code=200 if health["status"] == "ok" else 503)

    async def metrics(request: Request) -> Response:
        return PlainTextResponse("\n".join(node.metric_lines()) + "\n", media_type="text/plain; version=0.0.4")

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
