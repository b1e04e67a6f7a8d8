"""What the cluster benchmarks share: services, hub node processes, CPU readings.

PostgreSQL and Redis come from ``TONGPIN_TEST_DATABASE_URL`` and
``TONGPIN_TEST_REDIS_URL`` (the test defaults otherwise). Each run works in a
fresh PostgreSQL schema, dropped at the end.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from tempfile import TemporaryDirectory

from tests.cluster.services import DATABASE_URL, REDIS_URL, postgres_schema

__all__ = [
    "DATABASE_URL",
    "REDIS_URL",
    "Node",
    "cpu_seconds",
    "log",
    "pin",
    "postgres_schema",
    "print_result",
    "redis_pid",
]

ROOT = Path(__file__).resolve().parent.parent
TONGPIN = ROOT / ".venv" / "bin" / "tongpin"
PORT_RE = re.compile(r"http://127\.0\.0\.1:(\d+)/")
CLK_TCK = os.sysconf("SC_CLK_TCK")


def log(msg: str) -> None:
    print(f"[cluster-bench] {msg}", file=sys.stderr, flush=True)


def pin(core: int) -> None:
    """Run this process (the load generator) on one core."""
    if hasattr(os, "sched_setaffinity") and (os.cpu_count() or 1) > core:
        os.sched_setaffinity(0, {core})


def cpu_seconds(pid: int) -> float:
    """User plus system CPU time of a process so far."""
    stat = Path(f"/proc/{pid}/stat").read_text()
    fields = stat[stat.rindex(")") + 2 :].split()
    return (int(fields[11]) + int(fields[12])) / CLK_TCK


def redis_pid(url: str) -> int | None:
    import redis

    client = redis.Redis.from_url(url)
    try:
        pid = client.info("server").get("process_id")
    finally:
        client.close()
    return int(pid) if pid else None


class Node:
    """One ``tongpin serve`` process, pinned to a core, configured by environment."""

    def __init__(self, env: dict[str, str], core: int | None = 0) -> None:
        self.env = {k: v for k, v in os.environ.items() if not k.startswith("TONGPIN_")}
        self.env.update({"TONGPIN_AUTH": "off", "TONGPIN_LOG_LEVEL": "warning"}, **env)
        self.core = core
        self._dir = TemporaryDirectory(prefix="tongpin-bench-")
        cmd = [str(TONGPIN), "serve", "--port", "0", "--data-dir", self._dir.name]
        if core is not None:
            cmd = ["taskset", "-c", str(core), *cmd]
        self.proc = subprocess.Popen(cmd, env=self.env, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, cwd=ROOT)
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline().decode()
        match = PORT_RE.search(line)
        if match is None:
            self.stop()
            raise RuntimeError(f"node did not start: {line!r}")
        self.port = int(match.group(1))

    @property
    def ws(self) -> str:
        return f"ws://127.0.0.1:{self.port}/yjs"

    def cpu(self) -> float:
        return cpu_seconds(self.proc.pid)

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        if self.proc.stdout is not None:
            self.proc.stdout.close()
        self._dir.cleanup()


@contextmanager
def nodes(envs: list[dict[str, str]], core: int | None = 0) -> Iterator[list[Node]]:
    started: list[Node] = []
    try:
        for env in envs:
            started.append(Node(env, core))
        yield started
    finally:
        for node in started:
            node.stop()


def print_result(name: str, result: dict[str, object]) -> None:
    """One JSON line on stdout per result, for the record."""
    print(json.dumps({"bench": name, "at": time.strftime("%Y-%m-%dT%H:%M:%S"), **result}, ensure_ascii=False))
