"""Update fan-out latency and server CPU per delivered update.

    .venv/bin/python -m bench.fanout --receivers full|raw [--servers tongpin,pycrdt,ywss]
                                     [--sizes 2,50,200] [--rate 50] [--duration 10]

For each client count, one draft; 10 of the clients (both, with 2) are
writers: unmodified y-websocket providers, sending 50 real Yjs updates/s in
total, round-robin. The other clients are receivers:
- ``full``: unmodified providers too, each applying every update to its own
  Y.Doc. Latency is send-to-applied. All of them live in one Node process on
  one core, so with 200 clients a receiver also waits for the ~200 others
  ahead of it to apply the same update: several ms of the latency are the
  generator's, not the server's.
- ``raw``: sockets that do the y-websocket handshake and only read (see
  ``bench/js/loadgen.mjs``). Latency is send-to-read, nearly all of it the
  server's and the network's.
Both are run because each shows something; the server's work is the same.

CPU is the server's utime+stime (``/proc/PID/stat``) over the measured window
divided by the deliveries in it (each update delivered to the N-1 clients
that did not send it). With 200 clients this is the issue's "200 clients at
50 Hz" figure: ~10k deliveries/s.
"""

from __future__ import annotations

import argparse
import os
import tempfile
from pathlib import Path

from bench.servers import ALL_SERVERS, Server, check_setup, loadgen, log, machine, save


def fanout_load(
    server: Server, url: str, room: str, clients: int, rate: float, duration: float, receivers: str, **more: object
) -> dict[str, object]:
    """One loadgen fanout run on ``server``: up to 10 writers at ``rate`` each, every client receiving."""
    return loadgen(
        {
            "mode": "fanout",
            **more,
            "url": url,
            "room": room,
            "clients": clients,
            "writers": min(clients, 10),
            "receivers": receivers,
            "rate": rate,
            "warmup_s": 2,
            "duration_s": duration,
            "drain_s": 5,
            "pid": server.pid,
        }
    )


def run_one(
    name: str, clients: int, rate: float, duration: float, receivers: str = "full", extra: list[str] | None = None
) -> dict[str, object]:
    with tempfile.TemporaryDirectory(prefix=f"bench-{name}-") as tmp, Server(name, Path(tmp), extra=extra or []) as s:
        result = fanout_load(s, s.url, f"bench/fanout{clients}", clients, rate, duration, receivers)
    result["server"] = name
    result["loadavg_1m"] = os.getloadavg()[0]  # the machine is shared: how busy it was
    lat = result["latency"]
    assert isinstance(lat, dict)
    log(
        f"{name:8s} n={clients:4d} {receivers}: p50 {lat['p50_ms']:.2f} ms, p99 {lat['p99_ms']:.2f} ms, "
        f"{result['cpu_per_delivery_us']:.2f} us/delivery, missing {result['missing']}"
    )
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--receivers", choices=("full", "raw"), default="full")
    parser.add_argument("--servers", default=",".join(ALL_SERVERS))
    parser.add_argument("--sizes", default="2,50,200")
    parser.add_argument("--rate", type=float, default=50.0)
    parser.add_argument("--duration", type=float, default=8.0)
    args = parser.parse_args()
    check_setup()
    servers = args.servers.split(",")
    sizes = [int(x) for x in args.sizes.split(",")]
    runs = []
    for clients in sizes:
        for name in servers:  # every server on the same workload, back to back
            runs.append(run_one(name, clients, args.rate, args.duration, args.receivers))
    save(
        f"fanout-{args.receivers}",
        {
            "machine": machine(),
            "rate": args.rate,
            "duration_s": args.duration,
            "receivers": args.receivers,
            "runs": runs,
        },
    )


if __name__ == "__main__":
    main()
