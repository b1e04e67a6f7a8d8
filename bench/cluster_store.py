"""Sustained store throughput: updates per second through the journal, SQLite vs PostgreSQL.

    .venv/bin/python -m bench.cluster_store [--seconds 5]

Also the latency of a lone update's commit (nothing to batch with).
The real write path: ``Journal`` (group commit, batches of up to 1024) over
``SqliteStore`` (WAL, synchronous=FULL) or ``PostgresStore`` (default commit
durability). Producers keep the journal busy with real Yjs typing updates
(one character each, ~25 bytes) spread over 20 drafts. For PostgreSQL it
also runs three journals on three store instances at once: three nodes
writing to one database, with their per-draft append locks contending.
"""

from __future__ import annotations

import argparse
import asyncio
import time
from pathlib import Path
from tempfile import TemporaryDirectory

from pycrdt import Doc, Text

from bench.cluster_common import DATABASE_URL, log, postgres_schema, print_result
from rooms.journal import Journal
from rooms.postgres_store import PostgresStore
from rooms.sqlite_store import SqliteStore
from rooms.store import DraftKey, Store

DRAFTS = [DraftKey("bench", f"d{i}") for i in range(20)]


def typing_updates(n: int) -> list[bytes]:
    doc: Doc[Text] = Doc(client_id=7)
    text = doc.get("t", type=Text)
    out: list[bytes] = []
    sub = doc.observe(lambda e: out.append(e.update))
    for i in range(n):
        text += "稿" if i % 2 else "a"
    doc.unobserve(sub)
    return out


async def drive(journals: list[Journal], updates: list[bytes], seconds: float) -> dict[str, float]:
    """Keep every journal fed for ``seconds``; count what commits in the window."""
    committed = 0
    counting = False

    def on_commit(_key: DraftKey, n: int, _last: int) -> None:
        nonlocal committed
        if counting:
            committed += n

    for j in journals:
        j.on_commit = on_commit
    stop = asyncio.Event()

    async def produce(j: Journal, offset: int) -> None:
        i = offset
        while not stop.is_set():
            if j.backlog > 4 * j.max_batch:
                await asyncio.sleep(0.001)
                continue
            for _ in range(256):
                j.append(DRAFTS[i % len(DRAFTS)], updates[i % len(updates)], None)
                i += 1
            await asyncio.sleep(0)

    producers = [asyncio.create_task(produce(j, k * 7919)) for k, j in enumerate(journals)]
    await asyncio.sleep(1.0)  # warm up: pools, pages, plans
    counting = True
    batches = -sum(j.batches for j in journals)
    started = time.perf_counter()
    await asyncio.sleep(seconds)
    counting = False
    elapsed = time.perf_counter() - started
    batches += sum(j.batches for j in journals)
    stop.set()
    await asyncio.gather(*producers)
    return {
        "updates_per_s": round(committed / elapsed),
        "commits_per_s": round(batches / elapsed, 1),
        "avg_batch": round(committed / max(1, batches), 1),
    }


async def lone_commits(journal: Journal, updates: list[bytes], n: int = 200) -> dict[str, float]:
    """One update at a time, each waited for: the latency of a commit with nothing to batch."""
    took = []
    for i in range(n):
        started = time.perf_counter()
        journal.append(DRAFTS[0], updates[i], None)
        await journal.flush()
        took.append(time.perf_counter() - started)
    took.sort()
    return {
        "lone_commit_p50_ms": round(took[n // 2] * 1e3, 2),
        "lone_commit_p99_ms": round(took[n * 99 // 100] * 1e3, 2),
    }


async def run_one(name: str, stores: list[Store], updates: list[bytes], seconds: float) -> dict[str, object]:
    for s in stores:
        await s.open()
    journals = [Journal(s) for s in stores]
    for j in journals:
        j.start()
    try:
        figures = await lone_commits(journals[0], updates) if len(journals) == 1 else {}
        figures |= await drive(journals, updates, seconds)
    finally:
        for j in journals:
            await j.stop(30)
        for s in stores:
            await s.close()
    result = {"store": name, "writers": len(stores), **figures}
    log(f"{name} x{len(stores)}: {figures}")
    return result


async def main(seconds: float) -> None:
    updates = typing_updates(20_000)
    results = []
    with TemporaryDirectory() as tmp:
        path = Path(tmp) / "bench.sqlite3"
        results.append(await run_one("sqlite", [SqliteStore(path)], updates, seconds))
    async with postgres_schema(DATABASE_URL) as url:
        results.append(await run_one("postgres", [PostgresStore(url)], updates, seconds))
    async with postgres_schema(DATABASE_URL) as url:
        results.append(await run_one("postgres", [PostgresStore(url) for _ in range(3)], updates, seconds))
    for r in results:
        print_result("cluster_store", r)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=5.0)
    asyncio.run(main(parser.parse_args().seconds))
