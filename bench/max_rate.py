"""The highest update rate a server sustains with p99 under 250 ms and nothing missing.

    .venv/bin/python -m bench.max_rate [--servers tongpin,pycrdt,ywss] [--clients 50]

One draft, ``--clients`` clients: 2 writers (unmodified y-websocket
providers making real Yjs updates) and raw receivers (the y-websocket
handshake, then they only read; applying every update in 40+ Y.Docs would make
the generator, not the server, the bottleneck). The rate doubles from
``--start`` until a step fails, then two bisection steps narrow it. Each step
runs on a freshly started server: 1 s warm-up, ``--duration`` s measured, up to
3 s to drain.

A step passes when: p99 fan-out latency <= 250 ms, no delivery missing, the
writers' documents agree, no client was disconnected, and the generator kept
the requested rate (>= 95%). The generator's own CPU share is recorded: near
1.0 means the figure is a floor set by the generator, not the server.
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

from bench.servers import ALL_SERVERS, Server, check_setup, loadgen, log, machine, save

P99_LIMIT_MS = 250.0
WRITERS = 2  # each writer applies every other writer's updates: few writers keep the generator light


def step(name: str, clients: int, rate: float, duration: float) -> dict[str, object]:
    with tempfile.TemporaryDirectory(prefix=f"bench-{name}-") as tmp, Server(name, Path(tmp)) as s:
        try:
            r = loadgen(
                {
                    "mode": "fanout",
                    "url": s.url,
                    "room": "bench/maxrate",
                    "clients": clients,
                    "writers": min(clients, WRITERS),
                    "receivers": "raw",
                    "rate": rate,
                    "warmup_s": 1,
                    "duration_s": duration,
                    "drain_s": 3,
                    "pid": s.pid,
                    "hard_timeout_s": 60,
                }
            )
        except RuntimeError as exc:
            return {"server": name, "rate": rate, "passed": False, "error": str(exc)}
    lat = r["latency"]
    assert isinstance(lat, dict)
    p99 = lat["p99_ms"]
    reasons = []
    if p99 is None or p99 > P99_LIMIT_MS:
        reasons.append(f"p99 {p99:.0f} ms" if p99 is not None else "nothing delivered")
    if r["missing"]:
        reasons.append(f"{r['missing']} missing")
    if r["divergent_docs"]:
        reasons.append("documents differ")
    if r["reconnects"]:
        reasons.append(f"{r['reconnects']} disconnects")
    if float(r["achieved_rate"]) < 0.95 * rate:  # type: ignore[arg-type]
        reasons.append(f"generator reached only {float(r['achieved_rate']):.0f}/s")  # type: ignore[arg-type]
    r.update({"server": name, "passed": not reasons, "fail_reasons": reasons})
    log(
        f"{name:8s} {rate:7.0f}/s: {'pass' if not reasons else 'FAIL ' + ', '.join(reasons)}; p99 {p99} ms, "
        f"server {float(r['server_cpu_share']):.2f} core, generator {float(r['generator_cpu_share']):.2f} core"  # type: ignore[arg-type]
    )
    return r


def search(name: str, clients: int, start: float, duration: float, ceiling: float) -> dict[str, object]:
    steps = []
    good, bad = 0.0, None
    rate = start
    while rate <= ceiling:
        r = step(name, clients, rate, duration)
        steps.append(r)
        if r["passed"]:
            good = rate
            rate *= 2
        else:
            bad = rate
            break
    for _ in range(2):
        if bad is None or good == 0:
            break
        mid = round((good + bad) / 2)
        r = step(name, clients, mid, duration)
        steps.append(r)
        if r["passed"]:
            good = mid
        else:
            bad = mid
    best = next((s for s in steps if s["passed"] and s["rate"] == good), None)
    return {
        "server": name,
        "clients": clients,
        "max_rate": good,
        "first_failed_rate": bad,
        "deliveries_per_s": good * (clients - 1),
        "at_max": best,
        "steps": steps,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--servers", default=",".join(ALL_SERVERS))
    parser.add_argument("--clients", type=int, default=50)
    parser.add_argument("--start", type=float, default=50.0)
    parser.add_argument("--duration", type=float, default=4.0)
    parser.add_argument("--ceiling", type=float, default=12800.0)
    args = parser.parse_args()
    check_setup()
    results = [search(name, args.clients, args.start, args.duration, args.ceiling) for name in args.servers.split(",")]
    save("max_rate", {"machine": machine(), "clients": args.clients, "results": results})


if __name__ == "__main__":
    main()
