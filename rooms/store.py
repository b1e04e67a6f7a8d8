"""The Store seam: where drafts' update logs and snapshots live.

Backends: ``SqliteStore`` (embedded default) and ``PostgresStore`` (cluster).
Both pass the contract suite in ``tests/rooms/test_store_contract.py``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import NamedTuple, Protocol

__all__ = ["DraftKey", "SchemaTooNew", "Store", "StoreUnavailable", "StoredDraft"]


class DraftKey(NamedTuple):
    room: str
    draft: str

    def __str__(self) -> str:
        return f"{self.room}/{self.draft}"


@dataclass(slots=True)
class StoredDraft:
    """What the store holds for one draft: a snapshot and the log after it."""

    snapshot: bytes | None
    snapshot_upto: int  # highest log id folded into the snapshot (0: none)
    updates: list[bytes]
    last_id: int  # highest log id for this draft (snapshot_upto if the log is empty)


class StoreLatency:
    """Running count, sum and maximum of a backend's call durations, for /metrics."""

    __slots__ = ("count", "max", "total")

    def __init__(self) -> None:
        self.count = 0
        self.total = 0.0
        self.max = 0.0

    def observe(self, seconds: float) -> None:
        self.count += 1
        self.total += seconds
        self.max = max(self.max, seconds)


class StoreUnavailable(RuntimeError):
    """The backend cannot be reached or refused the operation; retry later."""


class SchemaTooNew(RuntimeError):
    """The database was migrated by a newer Tongpin than this one."""


class Store(Protocol):
    """Durable per-draft update logs with snapshots.

    Guarantees:
    - ``append`` is atomic: every update in the batch is stored, or none is.
      When it returns, the updates survive a crash of this process (and, with
      the default settings, of the machine). It returns one log id per update;
      ids of one draft increase in append order.
    - ``load`` returns the newest snapshot and every update logged after it,
      in id order. Applying them in that order rebuilds the draft.
    - ``compact`` replaces the snapshot and deletes the log up to ``upto`` in
      one transaction, and only if ``upto`` is newer than the stored snapshot:
      two nodes compacting one draft at once never lose or duplicate content.
    - When the backend is down every call raises ``StoreUnavailable``; nothing
      is reported stored that was not.
    """

    async def open(self) -> None: ...

    async def close(self) -> None: ...

    async def append(self, items: Sequence[tuple[DraftKey, bytes]]) -> list[int]: ...

    async def load(self, key: DraftKey) -> StoredDraft: ...

    async def compact(self, key: DraftKey, upto: int, snapshot: bytes) -> bool: ...

    async def log_length(self, key: DraftKey) -> int: ...

    async def ping(self) -> None: ...
