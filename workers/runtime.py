"""The worker runtime: background jobs, each run by one instance in the cluster.

The API other parts build on (kept small and stable):

- ``Job``: anything with ``name: str``, ``interval: float`` (seconds between
  the starts of two ticks) and ``async def tick(self, now: float) -> int``
  (``now`` is Unix time; return how many things it did, for ``/metrics``).
  A tick should do a bounded amount of work and commit what it did; it may
  be cancelled between two awaits when its instance loses the lease or
  stops, so anything it writes must be safe to do again (idempotent or
  conditional). An exception from a tick is counted and logged, and the
  next tick runs as usual.
- ``Parts``: what a job is built from: ``settings``, the document
  ``store``, the live ``publisher``, the ``monitor`` store, the ``workflow``
  store when there is one, and ``duty``, the "which unit is on duty at
  this time" lookup (``None`` without a workflow store).
- ``workers.jobs``: the registry, job name → ``Callable[[Parts], Job]``.
  Adding a job is one line there.
- ``WorkerHost(jobs, leases, holder, ttl)``: ``start()``, ``stop()``,
  ``stats`` and ``metric_lines(labels)``. ``tongpin serve`` hosts the jobs
  named by ``TONGPIN_WORKERS`` (``all`` by default, ``none``, or a comma
  list); ``tongpin worker NAME...`` hosts some in a process of their own
  (``workers.process``).

Leases (``workers.leases``): a job ticks only on the instance that holds
its lease. Every instance that hosts a job tries to take its lease every
``min(1, ttl/3)`` seconds; the holder renews it every ``ttl/3``. The holder
trusts its lease until ``ttl`` after the start of its last successful
renewal (less a margin); past that, or as soon as a renewal says another
instance has it, the holder cancels the running tick and stops ticking that
job. A holder that dies stops renewing, and its lease lapses after ``ttl``
(``TONGPIN_WORKER_LEASE_TTL``, 5 s): another instance ticks within about
``ttl + ttl/3`` seconds.

A clean stop (``stop(grace)``) starts no new tick, lets a running one finish
for up to ``grace`` seconds while still renewing its lease (then cancels it:
each change a job makes is one transaction, so a cut tick leaves no half-done
change), and releases the leases at once, so another instance takes over
within its next try, not after the TTL.

Health: a job is *failing* once its ticks have raised ``FAILING_TICKS`` times
in a row over at least ``failing_after`` seconds (30 by default), or its lease
store has been unreachable that long; one failed tick or a short outage never
makes it so. ``health()`` reports each job's state, and ``failing`` names the
failing ones (``/healthz`` answers 503 while there are any).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

from rooms.store import StoreUnavailable

if TYPE_CHECKING:
    from hub.config import Settings
    from rooms.events import Publisher
    from rooms.monitor import MonitorStore
    from rooms.store import Store
    from workers.leases import Leases

__all__ = ["FAILING_TICKS", "Duty", "Job", "JobStats", "Parts", "WorkerHost"]

log = logging.getLogger("tongpin.workers")

Duty = Callable[[float], Awaitable[str | None]]
TRUST = 0.9  # of the TTL: how long after a renewal started the holder trusts its lease
FAILING_TICKS = 3  # failed ticks in a row (over ``failing_after`` s) before a job counts as failing
FAILING_AFTER = 30.0  # seconds a failure must last before health reports it


class Job(Protocol):
    name: str
    interval: float

    async def tick(self, now: float) -> int: ...


@dataclass(frozen=True, slots=True)
class Parts:
    """The hub's parts a job may use."""

    settings: Settings
    store: Store
    publisher: Publisher
    monitor: MonitorStore
    workflow: Any = None
    duty: Duty | None = None


@dataclass(slots=True)
class JobStats:
    ticks: int = 0
    items: int = 0
    errors: int = 0
    last_success_at: float = 0.0  # Unix time of the last tick that returned
    held: bool = False  # this instance holds the job's lease now
    takeovers: int = 0  # times this instance took the lease
    errors_in_row: int = 0  # ticks that raised since the last one that returned
    erring_since: float = 0.0  # Unix time of the first of those (0: none)
    last_error: str | None = None
    lease_errors: int = 0  # lease store calls that failed
    lease_down_since: float = 0.0  # Unix time the lease store stopped answering (0: it answers)
    stopped: bool = False

    def failing(self, now: float, after: float) -> str | None:
        """Why the job counts as failing at ``now``, or None: a lasting failure, never one blip."""
        if self.errors_in_row >= FAILING_TICKS and now - self.erring_since >= after:
            return f"{self.errors_in_row} ticks failed in a row: {self.last_error}"
        if self.lease_down_since and now - self.lease_down_since >= after:
            return f"lease store unreachable for {now - self.lease_down_since:.0f} s"
        return None

    def state(self) -> str:
        if self.stopped:
            return "stopped"
        return "ticking" if self.held else "standby"


class _Runner:
    """One job on this instance: wait for its lease, tick while holding it."""

    def __init__(self, job: Job, leases: Leases, holder: str, ttl: float) -> None:
        self.job = job
        self.leases = leases
        self.holder = holder
        self.ttl = ttl
        self.stats = JobStats()
        self.trusted_until = 0.0  # monotonic
        self.stopping = asyncio.Event()  # set by a clean stop: no new tick starts

    async def run(self) -> None:
        retry = min(1.0, self.ttl / 3)
        while not self.stopping.is_set():
            if await self._confirm(self.leases.acquire):
                self.stats.takeovers += 1
                self.stats.held = True
                log.info("job %s: lease taken by %s", self.job.name, self.holder)
                try:
                    await self._hold()
                finally:
                    self.stats.held = False
                    self.stats.errors_in_row = 0  # failures are the holder's to report; another may hold it now
                    self.stats.erring_since = 0.0
            await self._pause(retry)

    async def _pause(self, seconds: float) -> None:
        """Sleep, but wake at once when a clean stop begins."""
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(seconds):
                await self.stopping.wait()

    async def _confirm(self, call: Callable[[str, str, float], Awaitable[bool]]) -> bool | None:
        """Acquire or renew; True: ours until ``trusted_until``; False: another's; None: unknown."""
        started = time.monotonic()
        try:
            async with asyncio.timeout(self.ttl / 3):
                ours = await call(self.job.name, self.holder, self.ttl)
        except (StoreUnavailable, TimeoutError) as exc:
            log.warning("job %s: lease store unavailable: %s", self.job.name, exc)
            self.stats.lease_errors += 1
            if not self.stats.lease_down_since:
                self.stats.lease_down_since = time.time()
            return None
        self.stats.lease_down_since = 0.0
        if ours:
            self.trusted_until = started + self.ttl * TRUST
        return ours

    async def _hold(self) -> None:
        ticking = asyncio.get_running_loop().create_task(self._tick_loop(), name=f"job {self.job.name}")
        try:
            while True:
                wait = min(self.ttl / 3, self.trusted_until - time.monotonic())
                if wait > 0:
                    await asyncio.wait([ticking], timeout=wait)
                if ticking.done():
                    ticking.result()  # the loop ends by raising, or after its last tick when stopping
                    return
                if time.monotonic() >= self.trusted_until:
                    log.warning("job %s: lease not confirmed in time; stopping", self.job.name)
                    return
                if await self._confirm(self.leases.renew) is False:
                    log.warning("job %s: lease lost to another instance; stopping", self.job.name)
                    return
        finally:
            ticking.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await ticking

    async def _tick_loop(self) -> None:
        job, stats = self.job, self.stats
        while not self.stopping.is_set():
            started = time.monotonic()
            try:
                done = await job.tick(time.time())
            except StoreUnavailable as exc:
                self._failed(f"store unavailable: {exc}")
                log.warning("job %s: store unavailable: %s", job.name, exc)
            except Exception as exc:
                self._failed(f"{type(exc).__name__}: {exc}")
                log.exception("job %s: tick failed", job.name)
            else:
                stats.ticks += 1
                stats.items += done
                stats.last_success_at = time.time()
                stats.errors_in_row = 0
                stats.erring_since = 0.0
                stats.last_error = None
            await self._pause(max(0.0, job.interval - (time.monotonic() - started)))

    def _failed(self, error: str) -> None:
        stats = self.stats
        stats.errors += 1
        stats.errors_in_row += 1
        if stats.errors_in_row == 1:
            stats.erring_since = time.time()
        stats.last_error = error[:300]


class WorkerHost:
    """Runs jobs under their leases on this instance."""

    def __init__(
        self,
        jobs: Sequence[Job],
        leases: Leases,
        holder: str,
        *,
        ttl: float = 5.0,
        failing_after: float = FAILING_AFTER,
    ) -> None:
        names = [j.name for j in jobs]
        assert len(set(names)) == len(names), f"a job is named twice: {names}"
        assert ttl > 0, "the lease TTL must be positive"
        self.leases = leases
        self.holder = holder
        self.failing_after = failing_after
        self.runners = [_Runner(j, leases, holder, ttl) for j in jobs]
        self._tasks: list[asyncio.Task[None]] = []
        self._opened = False

    @property
    def stats(self) -> dict[str, JobStats]:
        return {r.job.name: r.stats for r in self.runners}

    async def start(self) -> None:
        if not self.runners:
            return
        await self.leases.open()
        self._opened = True
        loop = asyncio.get_running_loop()
        self._tasks = [loop.create_task(r.run(), name=f"lease {r.job.name}") for r in self.runners]
        log.info("hosting jobs %s as %s", ", ".join(r.job.name for r in self.runners), self.holder)

    async def stop(self, grace: float = 0.0) -> None:
        """Start no new tick; let running ones finish for ``grace`` s, then cancel; release the leases.

        A running tick keeps its lease renewed while it finishes, and one cut
        short leaves no half-done change (each change is one transaction), so
        whichever way it ends, the release that follows hands the job over.
        """
        for r in self.runners:
            r.stopping.set()
        tasks, self._tasks = self._tasks, []
        if tasks and grace > 0:
            _, late = await asyncio.wait(tasks, timeout=grace)
            for task in late:
                log.warning("shutdown: %s still ticking after %.1f s; cancelled", task.get_name(), grace)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        for r in self.runners:
            r.stats.stopped = True
        if not self._opened:
            return
        self._opened = False
        for r in self.runners:
            if r.stats.takeovers:
                try:
                    await self.leases.release(r.job.name, self.holder)
                    log.info("job %s: lease released by %s", r.job.name, self.holder)
                except StoreUnavailable as exc:
                    log.warning("job %s: lease not released (it lapses by itself): %s", r.job.name, exc)
        await self.leases.close()

    def failing(self) -> dict[str, str]:
        """The jobs failing in a way that matters (see the module docstring), with why."""
        now = time.time()
        out = {}
        for r in self.runners:
            why = r.stats.failing(now, self.failing_after)
            if why is not None:
                out[r.job.name] = why
        return out

    def health(self) -> dict[str, dict[str, object]]:
        """Each job's state on this instance, for ``/healthz``."""
        now = time.time()
        return {
            r.job.name: {
                "state": "failing" if r.stats.failing(now, self.failing_after) else r.stats.state(),
                "lease_held": r.stats.held,
                "ticks": r.stats.ticks,
                "errors": r.stats.errors,
                "errors_in_row": r.stats.errors_in_row,
                "last_success_at": r.stats.last_success_at or None,
                "last_error": r.stats.last_error,
                "lease_store": "down" if r.stats.lease_down_since else "ok",
            }
            for r in self.runners
        }

    def metric_lines(self, labels: str) -> Iterable[str]:
        """Prometheus text of every job's counters and gauges, ``labels`` added to each series."""
        now = time.time()
        rows: list[tuple[str, str, str, Callable[[JobStats], float]]] = [
            ("tongpin_worker_ticks_total", "counter", "Ticks of a job that returned.", lambda s: s.ticks),
            ("tongpin_worker_items_total", "counter", "Things a job's ticks did.", lambda s: s.items),
            ("tongpin_worker_errors_total", "counter", "Ticks of a job that raised.", lambda s: s.errors),
            ("tongpin_worker_last_success_seconds", "gauge", "Unix time of a job's last good tick (0: never).",
             lambda s: s.last_success_at),
            ("tongpin_worker_lease_held", "gauge", "1 while this instance holds the job's lease.",
             lambda s: int(s.held)),
            ("tongpin_worker_takeovers_total", "counter", "Times this instance took the job's lease.",
             lambda s: s.takeovers),
            ("tongpin_worker_errors_in_row", "gauge", "Ticks of a job that raised since its last good one.",
             lambda s: s.errors_in_row),
            ("tongpin_worker_lease_errors_total", "counter", "Lease store calls for a job that failed.",
             lambda s: s.lease_errors),
            ("tongpin_worker_failing", "gauge", "1 while a job fails in a way that degrades health.",
             lambda s: int(s.failing(now, self.failing_after) is not None)),
        ]  # fmt: skip
        if not self.runners:
            return
        for name, kind, help_, value in rows:
            yield f"# HELP {name} {help_}"
            yield f"# TYPE {name} {kind}"
            for r in self.runners:
                yield f'{name}{{{labels},job="{r.job.name}"}} {value(r.stats)}'
