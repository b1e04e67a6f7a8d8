"""The hub's parts, wired together, with one lifecycle.

``Hub`` is an async context manager. Start order: store (checks the schema),
access (directory, audit, sessions: ``hub.access``), journal, compactor,
cluster (broker; ``hub.cluster``), live, workflow store (seeded in
development mode), review desk (``hub.review``),
rate sampler. Stop order, each step for a reason:
1. ``quiesce``: the server has stopped accepting; ``/healthz`` says
   ``stopping`` (503); flush the journal so every update a client sent
   before now is stored before the clients hear 1012; drain live events
   (``Live.drain``) so every event committed before now reaches this node's
   subscribers before their 1012.
2. (the server closes client sockets with 1012)
3. ``__aexit__``: flush what arrived meanwhile, leave the cluster (after the
   flush, so peers have nothing to adopt), stop the compactor, cancel
   unload timers, stop the workers (a running tick may finish within
   ``shutdown_timeout``; leases released so another instance takes over at
   once), stop access (flushing the audit trail), close the store.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import deque
from types import TracebackType

from hub.access import Access
from hub.cluster import Cluster, make_broker
from hub.config import Settings
from hub.connection import Connection
from hub.hocuspocus import HocuspocusStats
from hub.live import AccessLookup, Live
from hub.review import ReviewDesk, make_review_store
from hub.workflow_api import make_workflow_store
from rooms.broker import Broker
from rooms.directory import Directory
from rooms.draft import Draft, Origin
from rooms.journal import Journal
from rooms.registry import Registry
from rooms.sqlite_store import SqliteStore
from rooms.store import Store
from rooms.workflow_seed import seed_workflow
from workers.assessment import make_assessment_store
from workers.compaction import Compactor
from workers.jobs import make_host, make_monitor_store, select
from workers.runtime import Parts, WorkerHost

__all__ = ["Counters", "Hub", "make_store"]

log = logging.getLogger("tongpin.hub")


class Counters:
    __slots__ = ("bad_input_total", "connections_total", "deliveries_total", "overflows_total", "updates_total")

    def __init__(self) -> None:
        self.connections_total = 0
        self.updates_total = 0
        self.deliveries_total = 0
        self.overflows_total = 0
        self.bad_input_total = 0


def make_store(settings: Settings, *, migrate: bool = True) -> Store:
    url = settings.database_url
    if url.startswith(("postgres://", "postgresql://")):
        from rooms.postgres_store import PostgresStore  # type: ignore[import-not-found,unused-ignore]

        store: Store = PostgresStore(url, migrate=migrate)
        return store
    if url and not url.startswith("sqlite:///"):
        raise SystemExit(f"tongpin: unsupported database URL scheme in {url.split(':', 1)[0]!r}")
    return SqliteStore(settings.sqlite_path, migrate=migrate)


class Hub:
    def __init__(
        self,
        settings: Settings,
        store: Store | None = None,
        directory: Directory | None = None,
        broker: Broker | None = None,
    ) -> None:
        self.settings = settings
        self.store = store if store is not None else make_store(settings)
        self.access = Access(settings, directory)
        self.counters = Counters()
        self.connections: set[Connection] = set()
        self.hocuspocus = HocuspocusStats()  # /hocuspocus sockets and documents
        self.journal = Journal(
            self.store,
            max_batch=settings.journal_batch,
            max_backlog=settings.journal_backlog,
        )
        self.compactor = Compactor(self.store)
        self.broker = broker if broker is not None else make_broker(settings)
        self.cluster = Cluster(settings.node_id, self.broker, self.store, self.journal)
        self.live = Live(settings, AccessLookup(self.access))  # live channels: events and presence
        self.monitor = make_monitor_store(settings)  # sources, rules, alerts
        self.workflow = make_workflow_store(settings)  # sessions, drafts, topics, dispatch, duty
        try:
            self.job_names = select(settings.workers)
        except ValueError as exc:
            raise SystemExit(f"tongpin: bad value for workers: {exc}") from None
        self.workers: WorkerHost | None = None  # built at start, from the parts as they are then
        # Review: steps, pins, and published drafts kept read-only on every node (hub.review).
        self.review = ReviewDesk(make_review_store(settings), self.store, self.live.publisher, node_id=settings.node_id)
        self.live.listeners.append(self.review.on_events)
        self.assessment = make_assessment_store(settings)  # per-unit statistics, for /api/stats
        self.registry = Registry(
            self.store,
            self.journal,
            grace=settings.unload_grace,
            compact_threshold=settings.compact_threshold,
            request_compaction=self.compactor.request,
            on_broadcast=self._client_update,
            on_awareness=self.cluster.on_awareness,
            lifecycle=self.cluster,
            is_read_only=self.review.is_read_only,
        )
        self.review.registry = self.registry
        self.compactor.on_compacted = self.registry.compacted
        self.started = time.monotonic()
        self._samples: deque[tuple[float, int]] = deque(maxlen=11)
        self._sampler: asyncio.Task[None] | None = None
        self.stopping = False

    async def __aenter__(self) -> Hub:
        await self.store.open()
        await self.access.start()
        self.journal.start()
        self.compactor.start()
        await self.cluster.start()
        await self.live.start()
        await self.workflow.open()
        if self.access.dev_mode:
            self.live.publisher.announce(
                await seed_workflow(
                    self.workflow, await self.access.directory.units(), self.store if self.settings.demo else None
                )
            )
        await self.review.start()
        await self.assessment.open()
        await self.monitor.open()
        workflow = self.workflow
        parts = Parts(self.settings, self.store, self.live.publisher, self.monitor, workflow, workflow.on_duty_unit)
        self.workers = make_host(parts, self.job_names)
        await self.workers.start()
        self._sampler = asyncio.get_running_loop().create_task(self._sample(), name="rate sampler")
        log.info("hub %s ready", self.settings.node_id)
        return self

    async def quiesce(self) -> None:
        """Stop taking part: flush stored updates and committed events before clients are closed."""
        self.stopping = True
        if not await self.journal.stop_soft(self.settings.shutdown_timeout):
            log.error("shutdown: %d updates were not stored in time", self.journal.backlog)
        await self.live.drain(self.settings.shutdown_timeout)

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stopping = True
        if self._sampler is not None:
            self._sampler.cancel()
        await self.registry.close()
        await self.journal.stop(self.settings.shutdown_timeout)
        await self.cluster.stop()  # after the last flush: peers need adopt nothing
        await self.compactor.stop()
        await self.review.stop()
        await self.assessment.close()
        if self.workers is not None:
            await self.workers.stop(self.settings.shutdown_timeout)  # before live: a last tick may still publish
        await self.monitor.close()
        await self.workflow.close()
        await self.live.stop()  # its sockets were closed by the server
        await self.access.stop()
        await self.store.close()
        log.info("hub %s stopped", self.settings.node_id)

    def _client_update(self, draft: Draft, delta: bytes, origin: Origin) -> None:
        """A client update integrated here: the cluster relays it, the review desk may reopen a step."""
        self.cluster.on_broadcast(draft, delta, origin)
        self.review.on_client_update(draft)

    async def _sample(self) -> None:
        while True:
            self._samples.append((time.monotonic(), self.counters.updates_total))
            await asyncio.sleep(1.0)

    def rate(self) -> float:
        now = (time.monotonic(), self.counters.updates_total)
        if not self._samples:
            return 0.0
        then = self._samples[0]
        dt = now[0] - then[0]
        return (now[1] - then[1]) / dt if dt > 0 else 0.0

    def health(self) -> dict[str, object]:
        """``/healthz``: ``ok``; ``degraded`` while the store refuses writes, the broker is down or a
        job fails lastingly (``workers.runtime``); ``stopping`` from SIGTERM on. Anything but ok is 503."""
        failing = self.workers.failing() if self.workers is not None else {}
        degraded = self.journal.degraded or not self.cluster.up or bool(failing)
        return {
            "status": "stopping" if self.stopping else "degraded" if degraded else "ok",
            "node": self.settings.node_id,
            "store": "degraded" if self.journal.degraded else "ok",
            "store_error": self.journal.last_error if self.journal.degraded else None,
            "journal_backlog": self.journal.backlog,
            "broker": "ok" if self.cluster.up else "down",
            "peers": self.cluster.peers_alive(),
            "connections": len(self.connections),
            "documents": len(self.registry.open),
            "stopping": self.stopping,
            "jobs": self.workers.health() if self.workers is not None else {},
            "failing_jobs": failing,
        }
