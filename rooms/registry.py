"""Which drafts are open on this node: load each exactly once, unload idle ones.

- Single flight: concurrent joins of a draft share one load task, and nobody
  is attached (so nobody gets a sync answer) before the stored state is in.
- A failed load leaves nothing behind: the next join tries again. No empty
  document ever stands in for one that failed to load.
- A draft opens read-only (``Draft.read_only``) when ``is_read_only`` says
  so (a published draft); it is asked as part of the load.
- A draft whose last peer left is unloaded after ``grace`` seconds: its
  updates are flushed to the store, then it is dropped. A join that arrives
  while it unloads waits for the unload and then loads it afresh, so nothing
  is lost. If the flush times out (store down), the draft stays open.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import Any, Protocol

from pycrdt import Doc

from rooms.draft import Draft, Origin, Peer
from rooms.journal import Journal
from rooms.store import DraftKey, Store, StoredDraft

__all__ = ["DraftLifecycle", "Registry", "build_doc"]

log = logging.getLogger("tongpin.registry")


def build_doc(stored: StoredDraft) -> Doc[Any]:
    """Rebuild a document from a snapshot and the log after it, in one transaction."""
    doc: Doc[Any] = Doc()
    with doc.transaction():
        if stored.snapshot is not None:
            doc.apply_update(stored.snapshot)
        for update in stored.updates:
            doc.apply_update(update)
    return doc


class DraftLifecycle(Protocol):
    """Told when a draft opens and closes on this node (``hub.cluster`` uses it)."""

    async def opening(self, key: DraftKey) -> None:
        """Before the stored state is read: whatever is published after this may not be in it."""

    def opened(self, draft: Draft) -> None:
        """The draft is loaded and open; nobody has been greeted yet."""

    def closed(self, key: DraftKey) -> None:
        """The draft was unloaded, or its load failed after ``opening``."""


class Registry:
    def __init__(
        self,
        store: Store,
        journal: Journal,
        *,
        grace: float = 30.0,
        flush_timeout: float = 10.0,
        compact_threshold: int = 1000,
        request_compaction: Callable[[DraftKey], None] | None = None,
        on_broadcast: Callable[[Draft, bytes, Origin], None] | None = None,
        on_awareness: Callable[[Draft, bytes], None] | None = None,
        lifecycle: DraftLifecycle | None = None,
        is_read_only: Callable[[DraftKey], Awaitable[bool]] | None = None,
    ) -> None:
        self.store = store
        self.journal = journal
        self.grace = grace
        self.flush_timeout = flush_timeout
        self.compact_threshold = compact_threshold
        self.request_compaction = request_compaction
        self.on_broadcast = on_broadcast
        self.on_awareness = on_awareness
        self.lifecycle = lifecycle
        self.is_read_only = is_read_only
        self.open: dict[DraftKey, Draft] = {}
        self._loading: dict[DraftKey, asyncio.Task[Draft]] = {}
        self._unloading: dict[DraftKey, asyncio.Task[None]] = {}
        self._timers: dict[DraftKey, asyncio.TimerHandle] = {}
        self.loads = 0
        self.unloads = 0
        self.load_failures = 0

    async def join(self, key: DraftKey, peer: Peer) -> Draft:
        """Attach ``peer`` to the draft, loading it first if needed."""
        while True:
            draft = self.open.get(key)
            if draft is not None:
                timer = self._timers.pop(key, None)
                if timer is not None:
                    timer.cancel()
                draft.join(peer)
                return draft
            unloading = self._unloading.get(key)
            if unloading is not None:
                await asyncio.shield(unloading)
                continue
            loading = self._loading.get(key)
            if loading is None:
                loading = asyncio.get_running_loop().create_task(self._load(key), name=f"load {key}")
                self._loading[key] = loading
            await asyncio.shield(loading)

    def leave(self, key: DraftKey, peer: Peer) -> None:
        draft = self.open.get(key)
        if draft is None or peer not in draft.peers:
            return
        draft.leave(peer)
        if not draft.peers and key not in self._timers:
            loop = asyncio.get_running_loop()
            self._timers[key] = loop.call_later(self.grace, self._begin_unload, key)

    async def _load(self, key: DraftKey) -> Draft:
        try:
            if self.lifecycle is not None:
                await self.lifecycle.opening(key)
            stored = await self.store.load(key)
            read_only = self.is_read_only is not None and await self.is_read_only(key)
            doc = build_doc(stored)
        except BaseException:
            self.load_failures += 1
            if self.lifecycle is not None:
                self.lifecycle.closed(key)
            raise
        finally:
            self._loading.pop(key, None)
        draft = Draft(
            key,
            doc,
            self.journal,
            log_length=len(stored.updates),
            on_log_grew=self._log_grew,
            on_broadcast=self.on_broadcast,
            on_awareness=self.on_awareness,
        )
        draft.read_only = read_only
        self.open[key] = draft
        if self.lifecycle is not None:
            self.lifecycle.opened(draft)
        self.loads += 1
        self._log_grew(draft)
        return draft

    def _log_grew(self, draft: Draft) -> None:
        if draft.log_length >= self.compact_threshold and self.request_compaction is not None:
            self.request_compaction(draft.key)

    def compacted(self, key: DraftKey, folded: int) -> None:
        """The compactor folded ``folded`` log entries of ``key`` into its snapshot."""
        draft = self.open.get(key)
        if draft is not None:
            draft.log_length = max(0, draft.log_length - folded)

    def _begin_unload(self, key: DraftKey) -> None:
        self._timers.pop(key, None)
        draft = self.open.get(key)
        if draft is None or draft.peers:
            return
        del self.open[key]
        task = asyncio.get_running_loop().create_task(self._unload(key, draft), name=f"unload {key}")
        self._unloading[key] = task

    async def _unload(self, key: DraftKey, draft: Draft) -> None:
        try:
            await asyncio.wait_for(self.journal.flush(), self.flush_timeout)
        except TimeoutError:
            log.warning("unload of %s postponed: the store did not take its updates in time", key)
            self.open[key] = draft
            self._timers[key] = asyncio.get_running_loop().call_later(self.grace, self._begin_unload, key)
            return
        finally:
            self._unloading.pop(key, None)
        if draft.log_length and self.request_compaction is not None:
            self.request_compaction(key)
        if self.lifecycle is not None:
            self.lifecycle.closed(key)
        draft.close()
        self.unloads += 1

    async def close(self) -> None:
        """Cancel pending unload timers and wait for unloads under way."""
        for timer in self._timers.values():
            timer.cancel()
        self._timers.clear()
        if self._unloading:
            await asyncio.gather(*self._unloading.values(), return_exceptions=True)
