"""The audit trail's writer: events are recorded at once and stored in batches.

``record`` never awaits and never blocks the socket that caused the event: it
appends to a bounded queue. One writer task stores what has gathered, at most
every ``interval`` seconds or as soon as ``batch`` events wait, one
transaction per batch. If the directory is down, batches wait and are retried
with backoff. Past ``max_backlog`` waiting events new ones are dropped,
counted (``dropped``, in /metrics) and logged: a flood of refusals must not
exhaust memory. Role changes and disables are not written here: the directory
stores them with their change, in one transaction.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import time
from collections import deque
from collections.abc import Mapping
from types import TracebackType
from typing import Any

from rooms.directory import AuditEvent, Directory
from rooms.store import StoreUnavailable

__all__ = ["AuditTrail"]

log = logging.getLogger("tongpin.audit")


class AuditTrail:
    def __init__(
        self,
        directory: Directory,
        node: str,
        *,
        max_backlog: int = 50_000,
        batch: int = 500,
        interval: float = 0.5,
    ) -> None:
        self.directory = directory
        self.node = node
        self.max_backlog = max_backlog
        self.batch = batch
        self.interval = interval
        self.dropped = 0
        self.written = 0
        self._queue: deque[AuditEvent] = deque()
        self._wake = asyncio.Event()  # something waits to be written
        self._now = asyncio.Event()  # write it now: a batch is full, or someone flushes
        self._progress = asyncio.Condition()
        self._recorded = 0
        self._done = 0
        self._task: asyncio.Task[None] | None = None
        self._last_drop_log = 0.0

    @property
    def backlog(self) -> int:
        return len(self._queue)

    def record(
        self,
        action: str,
        *,
        actor: str | None = None,
        unit: str | None = None,
        client: str | None = None,
        target: str = "",
        detail: Mapping[str, Any] | None = None,
    ) -> None:
        """Queue one event, stamped now. Never blocks."""
        if len(self._queue) >= self.max_backlog:
            self.dropped += 1
            now = time.monotonic()
            if now - self._last_drop_log > 10:
                self._last_drop_log = now
                log.warning("audit backlog full (%d): dropped %d events so far", len(self._queue), self.dropped)
            return
        event = AuditEvent(action, time.time(), actor, unit, client, target, dict(detail or {}), self.node)
        self._queue.append(event)
        self._recorded += 1
        self._wake.set()
        if len(self._queue) >= self.batch:
            self._now.set()

    async def flush(self) -> None:
        """Wait until every event recorded before this call is stored."""
        target = self._recorded
        self._now.set()
        self._wake.set()
        async with self._progress:
            await self._progress.wait_for(lambda: self._done >= target)

    async def __aenter__(self) -> AuditTrail:
        assert self._task is None, "audit trail started twice"
        self._task = asyncio.get_running_loop().create_task(self._run(), name="audit writer")
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.stop(5.0)

    async def stop(self, within: float) -> None:
        """Store what waits (for up to ``within`` seconds), then stop the writer."""
        if self._task is None:
            return
        try:
            await asyncio.wait_for(self.flush(), within)
        except TimeoutError:
            log.error("audit trail stopped with %d events not stored", len(self._queue))
        self._task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._task
        self._task = None

    async def _run(self) -> None:
        # asyncio.timeout, not wait_for: on 3.11 wait_for can swallow the
        # cancellation that stops this task when its inner wait finishes too.
        delay = 0.05
        while True:
            await self._wake.wait()
            if not self._now.is_set():
                # Gather for a moment: one transaction per interval, not per event.
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(self.interval):
                        await self._now.wait()
            self._now.clear()
            self._wake.clear()
            while self._queue:
                batch = [self._queue[i] for i in range(min(self.batch, len(self._queue)))]
                try:
                    await self.directory.append_audit(batch)
                except StoreUnavailable as exc:
                    log.warning("audit write failed, retrying in %.2fs: %s", delay, exc)
                    await asyncio.sleep(delay * (0.5 + random.random()))
                    delay = min(delay * 2, 2.0)
                    continue
                except Exception:  # a batch the backend refuses for good: never retry it forever
                    log.exception("audit batch of %d events could not be stored; dropped", len(batch))
                    self.dropped += len(batch)
                else:
                    self.written += len(batch)
                delay = 0.05
                for _ in batch:
                    self._queue.popleft()
                async with self._progress:
                    self._done += len(batch)
                    self._progress.notify_all()
