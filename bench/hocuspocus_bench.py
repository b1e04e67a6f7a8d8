"""Hocuspocus-dialect clients: server CPU per delivery, and the cost of multiplexing.

    .venv/bin/python -m bench.hocuspocus_bench [--part fanout|mux|all] [--receivers raw,full]
                                               [--duration 8] [--mux-duration 5]
                                               [--setups tongpin-yjs,tongpin-hocuspocus,hocuspocus]

``fanout``: the fan-out workload of ``bench.fanout`` (200 clients on one
draft, 10 writers, 50 real Yjs updates/s in total, receivers ``raw`` and
``full``) in three setups, back to back:
- ``tongpin-yjs``: Tongpin's ``/yjs`` with y-websocket providers (the baseline);
- ``tongpin-hocuspocus``: Tongpin's ``/hocuspocus`` with @hocuspocus/provider
  providers (raw receivers: sockets framing the dialect themselves, token in-band);
- ``hocuspocus``: the Hocuspocus server (``bench/peers/hocuspocus``) with the same clients.

``mux``: one writer socket carries every draft and sends 200 updates/s in
all; each draft has one receiver attachment, the receivers held by 1 socket
(1, 10, 50 drafts on it) or by 50 sockets of one draft each, then 500 drafts
on 10 sockets or on 500 (Hocuspocus dialect, and on Tongpin also y-websocket
sockets on ``/yjs``). Server RSS growth per draft opened and per receiver
attachment, server CPU per attach and per delivered update (see ``mux`` in
``bench/js/loadgen.mjs``).

Results go to ``bench/results/hocuspocus-{fanout,mux}-*.json``; the figures
are copied by hand into docs/BENCHMARKS.md ("Hocuspocus dialect").
"""

from __future__ import annotations

import argparse
import os
import tempfile
from pathlib import Path

from bench.fanout import fanout_load
from bench.servers import BENCH, Server, check_setup, loadgen, log, machine, save

SETUPS = {  # name: (server, dialect)
    "tongpin-yjs": ("tongpin", "yjs"),
    "tongpin-hocuspocus": ("tongpin", "hocuspocus"),
    "hocuspocus": ("hocuspocus", "hocuspocus"),
}
# (drafts, receiver sockets): CPU per delivery at MUX_RATE over one to 50 drafts
# a socket, then memory and attach cost over 500 attachments, where RSS moves
# far more than its noise.
MUX_LAYOUTS = ((1, 1), (10, 1), (50, 1), (50, 50), (500, 10), (500, 500))
MUX_RATE = 200.0


def check_peer() -> None:
    if not (BENCH / "peers" / "hocuspocus" / "node_modules" / "@hocuspocus" / "server").is_dir():
        raise SystemExit("bench setup is incomplete; run: (cd bench/peers/hocuspocus && npm ci)")
    if not (BENCH / "js" / "node_modules" / "@hocuspocus" / "provider").is_dir():
        raise SystemExit("bench setup is incomplete; run: (cd bench/js && npm ci)")


def url_for(server: Server, dialect: str) -> str:
    return server.hocuspocus_url if dialect == "hocuspocus" else server.url


def fanout_one(setup: str, receivers: str, clients: int, rate: float, duration: float) -> dict[str, object]:
    name, dialect = SETUPS[setup]
    with tempfile.TemporaryDirectory(prefix=f"bench-{name}-") as tmp, Server(name, Path(tmp)) as s:
        room = f"bench/hpfanout{clients}"
        result = fanout_load(s, url_for(s, dialect), room, clients, rate, duration, receivers, dialect=dialect)
    result |= {"setup": setup, "server": name, "loadavg_1m": os.getloadavg()[0]}
    lat = result["latency"]
    assert isinstance(lat, dict)
    log(
        f"{setup:19s} n={clients} {receivers}: {result['cpu_per_delivery_us']:.2f} us/delivery, "
        f"p50 {lat['p50_ms']:.2f} ms, p99 {lat['p99_ms']:.2f} ms, missing {result['missing']}"
    )
    return result


def mux_one(
    setup: str, drafts: int, sockets: int, rate: float, duration: float, yjs_receivers: bool
) -> dict[str, object]:
    name, _ = SETUPS[setup]
    with tempfile.TemporaryDirectory(prefix=f"bench-{name}-") as tmp, Server(name, Path(tmp)) as s:
        config: dict[str, object] = {
            "mode": "mux",
            "url": s.hocuspocus_url,
            "room": f"bench/mux{drafts}x{sockets}",
            "drafts": drafts,
            "sockets": sockets,
            "rate": rate,
            "warmup_s": 2,
            "duration_s": duration,
            "pid": s.pid,
        }
        if yjs_receivers:
            config["receiver_url"] = s.url
        result = loadgen(config)
    result |= {"setup": setup, "server": name, "loadavg_1m": os.getloadavg()[0]}
    log(
        f"{setup:19s} {drafts:3d} drafts / {sockets:2d} sockets ({result['receivers']}): "
        f"{result['kib_per_draft_opened']:.1f} KiB/draft, {result['kib_per_attachment']:.1f} KiB/attachment, "
        f"{result['server_cpu_per_attach_ms']:.2f} ms/attach, {result['cpu_per_delivery_us']:.0f} us/delivery, "
        f"missing {result['missing']}"
    )
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--part", choices=("fanout", "mux", "all"), default="all")
    parser.add_argument("--setups", default=",".join(SETUPS))
    parser.add_argument("--clients", type=int, default=200)
    parser.add_argument("--rate", type=float, default=50.0)
    parser.add_argument("--duration", type=float, default=8.0)
    parser.add_argument("--mux-duration", type=float, default=5.0)
    parser.add_argument("--receivers", default="raw,full")
    args = parser.parse_args()
    check_setup()
    check_peer()
    setups = args.setups.split(",")
    if args.part in ("fanout", "all"):
        runs = [
            fanout_one(setup, receivers, args.clients, args.rate, args.duration)
            for receivers in args.receivers.split(",")
            for setup in setups  # every setup on the same workload, back to back
        ]
        save("hocuspocus-fanout", {"machine": machine(), "rate": args.rate, "runs": runs})
    if args.part in ("mux", "all"):
        runs = []
        for drafts, sockets in MUX_LAYOUTS:
            duration = args.mux_duration if drafts <= 50 else 2.0  # the large layouts are for memory
            for setup in setups:
                if SETUPS[setup][1] == "hocuspocus":
                    runs.append(mux_one(setup, drafts, sockets, MUX_RATE, duration, yjs_receivers=False))
            if drafts == sockets > 1 and "tongpin-yjs" in setups:  # the same drafts, a y-websocket socket each
                runs.append(mux_one("tongpin-yjs", drafts, sockets, MUX_RATE, duration, yjs_receivers=True))
        save("hocuspocus-mux", {"machine": machine(), "rate": MUX_RATE, "runs": runs})


if __name__ == "__main__":
    main()
