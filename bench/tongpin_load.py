"""Tongpin's own part of a cold load, timed in-process on a stored data directory.

    .venv/bin/python -m bench.tongpin_load DATA_DIR ROOM/DRAFT [--repeat 5]

What the hub does when the first client joins a draft that is not loaded:
``SqliteStore.load`` (snapshot plus the log after it), ``build_doc`` (apply
them in one transaction), then the sync answer, ``doc.get_update(state
vector)`` for an empty client. Each step is timed separately, ``--repeat``
times on a fresh store and document; the first repetition is the cold one
(the hub process is new, the file may not be in the page cache).
Prints one JSON line. ``bench.cold_load`` runs it after its restarts.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import time
from pathlib import Path

from rooms.registry import build_doc
from rooms.sqlite_store import SqliteStore
from rooms.store import DraftKey


async def once(db: Path, key: DraftKey) -> dict[str, float | int]:
    store = SqliteStore(db, migrate=False)
    await store.open()
    try:
        t0 = time.perf_counter()
        stored = await store.load(key)
        t1 = time.perf_counter()
        doc = build_doc(stored)
        t2 = time.perf_counter()
        answer = doc.get_update(b"\x00")
        t3 = time.perf_counter()
    finally:
        await store.close()
    return {
        "store_load_ms": (t1 - t0) * 1e3,
        "build_doc_ms": (t2 - t1) * 1e3,
        "sync_answer_ms": (t3 - t2) * 1e3,
        "total_ms": (t3 - t0) * 1e3,
        "log_rows": len(stored.updates),
        "snapshot_bytes": len(stored.snapshot or b""),
        "answer_bytes": len(answer),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("data_dir", type=Path)
    parser.add_argument("draft")
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    room, draft = args.draft.split("/")
    db = args.data_dir / "tongpin.sqlite3"
    runs = [asyncio.run(once(db, DraftKey(room, draft))) for _ in range(args.repeat)]
    print(json.dumps({"runs": runs}))


if __name__ == "__main__":
    main()
