"""Compaction: fold a draft's update log into its snapshot.

The snapshot is computed from what the *store* holds (snapshot plus log up to
the newest id), never from a node's in-memory document, which may lack
updates another node stored and not yet relayed. ``Store.compact`` writes it
only if it is newer than the stored one, so two nodes compacting one draft at
once cannot lose or duplicate content. The merge runs in a worker thread so
the event loop keeps serving.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable

from pycrdt import get_state, get_update, merge_updates

from rooms import codec
from rooms.registry import build_doc
from rooms.store import DraftKey, Store, StoredDraft, StoreUnavailable

__all__ = ["Compactor", "merge_stored"]

log = logging.getLogger("tongpin.compaction")


def merge_stored(stored: StoredDraft) -> bytes:
    """One update equal to the snapshot plus every logged update, pending parts included.

    Nodes log their own clients' updates, so the log is not in causal order:
    an update may be stored before the update it builds on (another node's,
    not yet committed). Yrs keeps such an update pending, and a document's
    encoding leaves pending structs and pending deletions out; folding it into
    the snapshot that way would lose it when the log is cut. So every input
    that is still pending after the merge is kept whole, merged in.
    """
    full = build_doc(stored).get_update()
    state = get_state(full)
    have = codec.decode_state_vector(state)
    inputs = stored.updates if stored.snapshot is None else [stored.snapshot, *stored.updates]
    pending = [update for update in inputs if _pending(get_update(update, state), have)]
    return merge_updates(full, *pending) if pending else full


def _pending(beyond: bytes, have: dict[int, int]) -> bool:
    """Whether an update's part beyond the merged state vector ``have`` adds anything.

    ``beyond`` is that part: the update's structs the state vector lacks, and
    its whole delete set, where a deletion of content the merged document
    does not hold is pending too (no state vector shows it).
    """
    dec = codec.Decoder(beyond)
    if dec.var_uint() != 0:  # structs the merged document does not hold
        return True
    for _ in range(dec.var_uint()):
        client = dec.var_uint()
        for _ in range(dec.var_uint()):
            clock, length = dec.var_uint(), dec.var_uint()
            if clock + length > have.get(client, 0):
                return True
    return False


class Compactor:
    """One task compacts requested drafts, one at a time, each at most once queued."""

    def __init__(self, store: Store, *, on_compacted: Callable[[DraftKey, int], None] | None = None) -> None:
        self.store = store
        self.on_compacted = on_compacted
        self._pending: dict[DraftKey, None] = {}
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self.runs = 0
        self.folded = 0
        self.failures = 0

    def request(self, key: DraftKey) -> None:
        if key not in self._pending:
            self._pending[key] = None
            self._wake.set()

    @property
    def backlog(self) -> int:
        return len(self._pending)

    def start(self) -> None:
        assert self._task is None, "compactor started twice"
        self._task = asyncio.get_running_loop().create_task(self._run(), name="compactor")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    async def _run(self) -> None:
        while True:
            if not self._pending:
                self._wake.clear()
                await self._wake.wait()
                continue
            key = next(iter(self._pending))
            del self._pending[key]
            try:
                await self.compact(key)
            except StoreUnavailable as exc:
                self.failures += 1
                log.warning("compaction of %s failed: %s", key, exc)
            except Exception:
                # One bad draft (an unreadable row, a Yrs refusal) must not end
                # compaction for every other draft, nor break shutdown.
                self.failures += 1
                log.exception("compaction of %s failed", key)

    async def compact(self, key: DraftKey) -> bool:
        """Compact ``key`` now; True if a new snapshot was written."""
        stored = await self.store.load(key)
        if not stored.updates:
            return False
        snapshot = await asyncio.to_thread(merge_stored, stored)
        written = await self.store.compact(key, stored.last_id, snapshot)
        if written:
            self.runs += 1
            self.folded += len(stored.updates)
            if self.on_compacted is not None:
                self.on_compacted(key, len(stored.updates))
        return written
