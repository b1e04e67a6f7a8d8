"""Group commit: client updates are appended to the store in batches.

Every client update is handed to ``Journal.append`` right after it was applied
in memory. One writer task takes everything queued so far and appends it in a
single transaction; while that commit runs, the next batch gathers. So a lone
update commits at once, and a burst costs one transaction per batch, not per
update. After each commit the owners of the stored updates are told how many
of theirs are now durable (the ``stored`` signal of the wire contract).

If the store is down, batches stay queued in order and are retried with
backoff; nothing is reported stored until it is. The queue is bounded:
``append`` raises ``JournalFull`` past ``max_backlog`` so the caller refuses
the update instead of holding memory without end.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
from collections import deque
from collections.abc import Callable
from typing import Protocol

from rooms.store import DraftKey, Store, StoreUnavailable

__all__ = ["Journal", "JournalFull", "StoredListener"]

log = logging.getLogger("tongpin.journal")


class JournalFull(RuntimeError):
    """Too many updates wait for the store; refuse new ones for now."""


class StoredListener(Protocol):
    def on_stored(self, count: int) -> None:
        """``count`` more of this listener's updates are durable."""


class _Entry:
    __slots__ = ("data", "key", "owner")

    def __init__(self, key: DraftKey, data: bytes | None, owner: StoredListener | None) -> None:
        self.key = key
        self.data = data
        self.owner = owner


class Journal:
    def __init__(
        self,
        store: Store,
        *,
        max_batch: int = 1024,
        max_backlog: int = 100_000,
        on_commit: Callable[[DraftKey, int, int], None] | None = None,
    ) -> None:
        self.store = store
        self.max_batch = max_batch
        self.max_backlog = max_backlog
        self.on_commit = on_commit  # (key, updates committed, highest id)
        self._queue: deque[_Entry] = deque()
        self._wake = asyncio.Event()
        self._progress = asyncio.Condition()
        self._appended = 0
        self._committed = 0
        self._task: asyncio.Task[None] | None = None
        self._stopping = False
        self.degraded = False
        self.last_error: str | None = None
        self.batches = 0

    @property
    def backlog(self) -> int:
        return len(self._queue)

    def has_room(self) -> bool:
        return len(self._queue) < self.max_backlog

    def append(self, key: DraftKey, data: bytes | None, owner: StoredListener | None) -> None:
        """Queue ``data`` for the log; ``None`` only marks the owner's turn.

        A marker keeps an owner's stored count in order when one of its
        updates changed nothing (a duplicate), without writing a row.
        """
        if len(self._queue) >= self.max_backlog:
            raise JournalFull(f"{len(self._queue)} updates wait for the store")
        self._queue.append(_Entry(key, data, owner))
        self._appended += 1
        self._wake.set()

    async def flush(self) -> None:
        """Wait until everything appended before this call is committed."""
        target = self._appended
        async with self._progress:
            await self._progress.wait_for(lambda: self._committed >= target)

    def start(self) -> None:
        assert self._task is None, "journal started twice"
        self._task = asyncio.get_running_loop().create_task(self._run(), name="journal")

    async def stop_soft(self, within: float) -> bool:
        """Flush for up to ``within`` seconds but keep running; False if not all."""
        try:
            await asyncio.wait_for(self.flush(), within)
        except TimeoutError:
            return False
        return True

    async def stop(self, within: float) -> bool:
        """Flush for up to ``within`` seconds, then stop; False if some was left."""
        flushed = True
        try:
            await asyncio.wait_for(self.flush(), within)
        except TimeoutError:
            flushed = False
            log.error("journal stopped with %d updates not stored", len(self._queue))
        self._stopping = True
        self._wake.set()
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        return flushed

    async def _run(self) -> None:
        delay = 0.05
        while not self._stopping:
            if not self._queue:
                self._wake.clear()
                await self._wake.wait()
                continue
            batch = [self._queue[i] for i in range(min(self.max_batch, len(self._queue)))]
            rows = [(e.key, e.data) for e in batch if e.data is not None]
            try:
                ids = await self.store.append(rows) if rows else []
            except StoreUnavailable as exc:
                self.degraded = True
                self.last_error = str(exc)
                log.warning("store append failed, retrying in %.2fs: %s", delay, exc)
                await asyncio.sleep(delay * (0.5 + random.random()))
                delay = min(delay * 2, 2.0)
                continue
            delay = 0.05
            self.degraded = False
            for _ in batch:
                self._queue.popleft()
            self.batches += 1
            self._after_commit(batch, ids)
            async with self._progress:
                self._committed += len(batch)
                self._progress.notify_all()

    def _after_commit(self, batch: list[_Entry], ids: list[int]) -> None:
        per_owner: dict[StoredListener, int] = {}
        per_key: dict[DraftKey, tuple[int, int]] = {}
        stored = iter(ids)
        for entry in batch:
            if entry.owner is not None:
                per_owner[entry.owner] = per_owner.get(entry.owner, 0) + 1
            if entry.data is not None:
                n, _ = per_key.get(entry.key, (0, 0))
                per_key[entry.key] = (n + 1, next(stored))
        for owner, count in per_owner.items():
            owner.on_stored(count)
        if self.on_commit is not None:
            for key, (n, last) in per_key.items():
                self.on_commit(key, n, last)
