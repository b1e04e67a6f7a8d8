"""Time to load a draft of 20,000 logged updates after a restart.

    .venv/bin/python -m bench.cold_load [--servers tongpin,tongpin-nocompact,pycrdt,ywss]
                                        [--updates 20000] [--loads 3]

For each server, with its own persistence:
1. Start it on an empty data directory. One unmodified y-websocket provider
   makes ``--updates`` real Yjs updates (seeded, the same for every server:
   short Chinese/ASCII inserts at random places, one delete in ten), and a
   second client checks the server holds all of it.
2. Stop it so that everything is stored (see each server below).
3. ``--loads`` times: start it again on that directory and time the first
   client: from ``connect()`` to the provider's ``synced`` event, and to the
   moment its text equals what was written ("complete"). The figure is
   "complete"; a server that says synced before it has loaded shows
   ``complete_at_sync: false``.

Servers and their persistence:
- ``tongpin``: the SQLite update log, compacted in the background as it grows
  (default ``--compact-threshold``). Stopped with SIGTERM (flushes the log).
- ``tongpin-nocompact``: the same with ``--compact-threshold 1000000000``: the
  load replays all 20,000 logged updates. Shows what compaction buys.
- ``pycrdt``: pycrdt-websocket with a ``SQLiteYStore`` (its own checkpoints
  every 100 updates). Stopped once the store holds every update (it writes
  each update from a task, and a SIGTERM would cancel the pending ones).
- ``ywss``: the y-websocket server with y-leveldb (``YPERSISTENCE``). Stopped
  with SIGTERM after its LevelDB write queue has drained.
"""

from __future__ import annotations

import argparse
import json
import os
import sqlite3
import statistics
import subprocess
import tempfile
import time
from pathlib import Path

from bench.servers import (
    ROOT,
    SERVER_CORE,
    VENV_BIN,
    Server,
    check_setup,
    loadgen,
    loadgen_finish,
    loadgen_line,
    loadgen_start,
    log,
    machine,
    save,
    tree_from_env,
)

ROOM = "bench/cold"
NO_COMPACTION = "1000000000"
SERVERS = ("tongpin", "tongpin-nocompact", "pycrdt", "ywss")


def make_server(name: str, data: Path) -> Server:
    if name == "tongpin":
        return Server("tongpin", data)
    if name == "tongpin-nocompact":
        return Server("tongpin", data, extra=["--compact-threshold", NO_COMPACTION])
    if name in ("pycrdt", "pycrdt-unheld"):
        return Server("pycrdt", data, extra=["--store", str(data / "ystore.db")])
    if name == "ywss":
        return Server("ywss", data, env={"YPERSISTENCE": str(data / "leveldb")})
    raise ValueError(name)


def pycrdt_rows(db: Path) -> int:
    if not db.exists():
        return 0
    con = sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=5)
    try:
        return int(con.execute("SELECT count(*) FROM yupdates WHERE path = ?", (f"/yjs/{ROOM}",)).fetchone()[0])
    except sqlite3.OperationalError:
        return 0
    finally:
        con.close()


def tongpin_store_state(data: Path) -> dict[str, object]:
    db = data / "tongpin.sqlite3"
    con = sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=5)
    try:
        room, draft = ROOM.split("/")
        rows = con.execute("SELECT count(*) FROM doc_updates WHERE room = ? AND draft = ?", (room, draft)).fetchone()
        snap = con.execute(
            "SELECT length(data), upto FROM doc_snapshots WHERE room = ? AND draft = ?", (room, draft)
        ).fetchone()
    finally:
        con.close()
    return {"log_rows": int(rows[0]), "snapshot_bytes": int(snap[0]) if snap else 0}


def wait_pycrdt_rows(db: Path, want: int, stall: float = 10.0) -> int:
    """Poll the store until it holds ``want`` rows, or stops growing for ``stall`` s."""
    rows, last_change = pycrdt_rows(db), time.monotonic()
    while rows < want and time.monotonic() - last_change < stall:
        time.sleep(0.25)
        now_rows = pycrdt_rows(db)
        if now_rows != rows:
            rows, last_change = now_rows, time.monotonic()
    return rows


def fill(name: str, data: Path, updates: int, expect: Path) -> dict[str, object]:
    server = make_server(name, data)
    config: dict[str, object] = {
        "mode": "fill",
        "url": "",
        "room": ROOM,
        "updates": updates,
        "expect_file": str(expect),
        "hard_timeout_s": 170,
    }
    with server:
        config["url"] = server.url
        if name.startswith("pycrdt"):
            # pycrdt-websocket writes each update to its store from a task of
            # the room. "pycrdt" keeps the clients connected until every update
            # is stored; "pycrdt-unheld" disconnects at once, as a user may.
            held = name == "pycrdt"
            release = data / "release"
            if held:
                config["hold_until_file"] = str(release)
            started = time.monotonic()
            proc = loadgen_start(config)
            if held:
                loadgen_line(proc, 150)
            rows = wait_pycrdt_rows(data / "ystore.db", updates)
            release.touch()
            r = loadgen_finish(proc)
            r["store_rows"] = rows
            r["store_seconds"] = time.monotonic() - started
        else:
            r = loadgen(config, timeout=170)
        if name.startswith("tongpin"):
            # Let a compaction under way finish, as it would on a live hub.
            time.sleep(2)
    if name.startswith("tongpin"):
        r.update(tongpin_store_state(data))
    log(
        f"{name}: filled {updates} updates in {r['send_seconds']:.1f}s, server has all: {r['server_has_all']}"
        + (f", store rows {r['store_rows']}" if "store_rows" in r else "")
    )
    return r


def cold(name: str, data: Path, expect: Path) -> dict[str, object]:
    server = make_server(name, data)
    with server:
        r = loadgen({"mode": "coldload", "url": server.url, "room": ROOM, "expect_file": str(expect), "timeout_s": 30})
        r["rss_kib_after_load"] = server.rss_kib()
    log(
        f"{name}: server answer complete {r['server_complete_ms']} ms, synced {r['synced_ms']:.1f} ms "
        f"(complete then: {r['complete_at_sync']}), complete {r['complete_ms']} ms"
    )
    return r


def tongpin_in_process(data: Path) -> dict[str, object]:
    """``bench.tongpin_load`` on the stored directory, pinned like the server."""
    tree = tree_from_env() or ROOT
    env = {**os.environ, "PYTHONPATH": f"{tree}{os.pathsep}{ROOT}"}
    proc = subprocess.run(
        ["taskset", "-c", SERVER_CORE, str(VENV_BIN / "python"), "-m", "bench.tongpin_load", str(data), ROOM],
        cwd=tree,  # the checkout under test comes first on sys.path
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    result: dict[str, object] = json.loads(proc.stdout.strip().splitlines()[-1])
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--servers", default=",".join(SERVERS))
    parser.add_argument("--updates", type=int, default=20000)
    parser.add_argument("--loads", type=int, default=3)
    args = parser.parse_args()
    check_setup()
    results = []
    for name in args.servers.split(","):
        with tempfile.TemporaryDirectory(prefix=f"bench-cold-{name}-") as tmp:
            data = Path(tmp)
            expect = data / "expected.txt"
            filled = fill(name, data, args.updates, expect)
            loads = [cold(name, data, expect) for _ in range(args.loads)]
            in_process = tongpin_in_process(data) if name.startswith("tongpin") else None
        complete = [float(x["complete_ms"]) for x in loads if x["complete_ms"] is not None]  # type: ignore[arg-type]
        results.append(
            {
                "server": name,
                "fill": filled,
                "loads": loads,
                "in_process": in_process,
                "complete_ms_median": statistics.median(complete) if complete else None,
                "synced_ms_median": statistics.median(float(x["synced_ms"]) for x in loads),  # type: ignore[arg-type]
                "server_complete_ms_median": statistics.median(
                    float(x["server_complete_ms"])
                    for x in loads
                    if x["server_complete_ms"] is not None  # type: ignore[arg-type]
                )
                if any(x["server_complete_ms"] is not None for x in loads)
                else None,
                "complete_at_sync": all(bool(x["complete_at_sync"]) for x in loads),
            }
        )
    save("cold_load", {"machine": machine(), "updates": args.updates, "results": results})


if __name__ == "__main__":
    main()
