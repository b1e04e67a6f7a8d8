"""Where Tongpin's CPU goes on the broadcast path: py-spy over the fan-out workload.

    .venv/bin/python -m bench.profile [--clients 200] [--rate 50] [--duration 10] [--raw-ws true]

Runs the ``bench.fanout`` workload against Tongpin while ``py-spy record``
samples it (``--nonblocking``: the hub is not paused), then prints the busiest
frames, inclusive and self, as shares of the *active* samples, next to the
user/system split of the server's CPU from /proc. Needs py-spy
(``.venv/bin/pip install py-spy``). The raw samples are kept in
``bench/results/profile-*.txt`` (collapsed stacks, one per line).

System time does not show in a Python profile: it lands in the frame that
made the system call (``socket.send`` inside asyncio's ``transport.write``).
"""

from __future__ import annotations

import argparse
import collections
import re
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

from bench.servers import RESULTS, Server, check_setup, loadgen, log, machine, save

IDLE_LEAVES = ("EpollSelector.select", "_worker (concurrent", "Condition.wait", "Thread._wait_for_tstate_lock")


def aggregate(raw: Path, top: int) -> dict[str, object]:
    inclusive: collections.Counter[str] = collections.Counter()
    self_time: collections.Counter[str] = collections.Counter()
    active = 0
    for line in raw.read_text().splitlines():
        stack, _, count_text = line.rpartition(" ")
        if not stack:
            continue
        count = int(count_text)
        frames = [re.sub(r":\d+\)", ")", f) for f in stack.split(";")[1:]]
        if not frames or frames[-1].startswith(IDLE_LEAVES):
            continue
        active += count
        for frame in set(frames):
            inclusive[frame] += count
        self_time[frames[-1]] += count
    return {
        "active_samples": active,
        "inclusive": [(f, c / active) for f, c in inclusive.most_common(top)] if active else [],
        "self": [(f, c / active) for f, c in self_time.most_common(top)] if active else [],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--clients", type=int, default=200)
    parser.add_argument("--rate", type=float, default=50.0)
    parser.add_argument("--duration", type=float, default=10.0)
    parser.add_argument("--raw-ws", default="true")
    parser.add_argument("--top", type=int, default=40)
    parser.add_argument("--receivers", default="full")
    args = parser.parse_args()
    check_setup()
    spy = shutil.which("py-spy") or str(Path(".venv/bin/py-spy").resolve())
    RESULTS.mkdir(parents=True, exist_ok=True)
    raw = RESULTS / f"profile-{time.strftime('%Y%m%d-%H%M%S')}.txt"
    name = "tongpin" if args.raw_ws == "true" else "tongpin-asgi"
    with tempfile.TemporaryDirectory(prefix="bench-profile-") as tmp, Server(name, Path(tmp)) as s:
        sampler = subprocess.Popen(
            [
                spy,
                "record",
                "-p",
                str(s.pid),
                "-r",
                "1000",
                "--nonblocking",
                "--threads",
                "--format",
                "raw",
                "-o",
                str(raw),
                "-d",
                str(int(args.duration + 8)),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        result = loadgen(
            {
                "mode": "fanout",
                "url": s.url,
                "room": "bench/profile",
                "clients": args.clients,
                "writers": min(args.clients, 10),
                "receivers": args.receivers,
                "rate": args.rate,
                "warmup_s": 2,
                "duration_s": args.duration,
                "pid": s.pid,
            }
        )
        sampler.wait(timeout=60)
    summary = aggregate(raw, args.top)
    delivered = int(result["delivered"])  # type: ignore[call-overload]
    print(f"server {name}: {result['cpu_per_delivery_us']:.2f} us CPU per delivery over {delivered} deliveries")
    print(f"  user {result['server_user_s']:.2f} s, system {result['server_sys_s']:.2f} s")
    print(f"active samples: {summary['active_samples']}")
    for title in ("inclusive", "self"):
        print(f"--- {title}")
        for frame, share in summary[title]:  # type: ignore[attr-defined]
            print(f"{100 * share:6.1f}%  {frame}")
    log(f"raw samples in {raw}")
    save("profile", {"machine": machine(), "server": name, "fanout": result, "profile": summary, "raw": raw.name})


if __name__ == "__main__":
    main()
