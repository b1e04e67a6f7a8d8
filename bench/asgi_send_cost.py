"""What the generic ASGI layer costs on the broadcast path.

    .venv/bin/python -m bench.asgi_send_cost [--clients 200] [--rate 50] [--rounds 2]

The same Tongpin hub, two ways (alternating, ``--rounds`` times each):
- ``tongpin``: ``--raw-ws true`` (default). A broadcast is framed once and the
  same bytes are written to each receiver's transport (``hub/ws_protocol``).
- ``tongpin-asgi``: ``--raw-ws false``. Each delivery goes through its
  connection's bounded queue and writer task, then ASGI ``send``: an event
  dict, uvicorn's per-socket framing, and an await per message.

Workload as in ``bench.fanout``: one draft, 10 writers, ``--rate`` updates/s,
every client an unmodified y-websocket provider. Reports server CPU per
delivery and latency for each, and the difference per delivery.
"""

from __future__ import annotations

import argparse
import statistics

from bench.fanout import run_one
from bench.servers import check_setup, machine, save


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--clients", type=int, default=200)
    parser.add_argument("--rate", type=float, default=50.0)
    parser.add_argument("--duration", type=float, default=8.0)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--receivers", choices=("full", "raw"), default="full")
    args = parser.parse_args()
    check_setup()
    runs = []
    for _ in range(args.rounds):
        for name in ("tongpin", "tongpin-asgi"):
            runs.append(run_one(name, args.clients, args.rate, args.duration, args.receivers))
    summary = {}
    for name in ("tongpin", "tongpin-asgi"):
        values = [float(r["cpu_per_delivery_us"]) for r in runs if r["server"] == name]  # type: ignore[arg-type]
        summary[name] = statistics.median(values)
    summary["asgi_extra_us"] = summary["tongpin-asgi"] - summary["tongpin"]
    save(
        "asgi_send_cost",
        {"machine": machine(), "clients": args.clients, "rate": args.rate, "runs": runs, "summary": summary},
    )


if __name__ == "__main__":
    main()
