"""Memory per idle connection, and the connect-and-sync rate.

    .venv/bin/python -m bench.idle [--servers tongpin,pycrdt,ywss] [--clients 2000]

Memory: a fresh server; one client loads a draft and writes 50 updates; the
server's RSS is read (``/proc/PID/status``); then ``--clients`` unmodified
y-websocket providers join that draft (100 handshakes in flight) and sync; 3 s
later RSS is read again. Figure: (RSS after - RSS before) / clients, in KiB.
Awareness state is null on every client, so this is the cost of a connection
on a draft, not of presence.

Connect-and-sync rate: another fresh server and draft (same 50 updates);
``--clients`` clients connect with 100 handshakes in flight; the rate is
clients / (first connect to last synced). These clients do the y-websocket
handshake with y-protocols messages but keep no Y.Doc, so that the server, not
the generator, is the limit; the server's CPU per connection is reported too.
"""

from __future__ import annotations

import argparse
import resource
import tempfile
from pathlib import Path

from bench.servers import ALL_SERVERS, Server, check_setup, loadgen, log, machine, save


def raise_nofile(want: int) -> int:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = want if hard == resource.RLIM_INFINITY else min(want, hard)
    if soft < target:
        resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
    return resource.getrlimit(resource.RLIMIT_NOFILE)[0]


def measure(name: str, clients: int, kind: str) -> dict[str, object]:
    with tempfile.TemporaryDirectory(prefix=f"bench-{name}-") as tmp, Server(name, Path(tmp)) as s:
        r = loadgen(
            {
                "mode": "idle",
                "url": s.url,
                "room": "bench/idle",
                "clients": clients,
                "kind": kind,
                "concurrency": 100,
                "settle_s": 3,
                "pid": s.pid,
            }
        )
    r["server"] = name
    log(
        f"{name:8s} {kind:4s}: {r['kib_per_connection']:.2f} KiB/conn, {r['connect_rate']:.0f} clients/s, "
        f"{r['server_cpu_per_connect_ms']:.3f} ms CPU/connect, {r['still_open']}/{clients} open"
    )
    return r


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--servers", default=",".join(ALL_SERVERS))
    parser.add_argument("--clients", type=int, default=2000)
    args = parser.parse_args()
    check_setup()
    nofile = raise_nofile(4 * args.clients + 1024)  # inherited by the servers and the generator
    runs = []
    for name in args.servers.split(","):
        runs.append({"figure": "memory", **measure(name, args.clients, "full")})
    for name in args.servers.split(","):
        runs.append({"figure": "connect", **measure(name, args.clients, "raw")})
    save("idle", {"machine": machine(), "clients": args.clients, "nofile": nofile, "runs": runs})


if __name__ == "__main__":
    main()
