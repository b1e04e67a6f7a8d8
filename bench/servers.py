"""The servers under test, started pinned to core 0, and the load generator on core 1.

Each server is started the way its users start it, on loopback, on a free port
it prints. ``Server`` is a context manager that starts the process, parses the
port from its first line, and stops it (SIGTERM, then SIGKILL after a deadline).

Servers:
- ``tongpin``: ``tongpin serve --port 0 --data-dir DIR`` (SQLite, durable log), run as
  ``python -m hub.cli serve`` so that ``TONGPIN_BENCH_TREE`` can point at another checkout.
- ``tongpin-asgi``: the same with ``--raw-ws false`` (broadcasts through ASGI send).
- ``pycrdt``: pycrdt-websocket's WebsocketServer in uvicorn (``bench.peers.pycrdt_server``).
- ``ywss``: the y-websocket reference server (``bench/peers/ywss/server.mjs``).
- ``hocuspocus``: the Hocuspocus server (``bench/peers/hocuspocus/server.mjs``); it speaks
  only the Hocuspocus dialect (``hocuspocus_url``).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import IO

ROOT = Path(__file__).resolve().parent.parent
BENCH = ROOT / "bench"
RESULTS = BENCH / "results"
VENV_BIN = ROOT / ".venv" / "bin"
LOADGEN = BENCH / "js" / "loadgen.mjs"
YWSS = BENCH / "peers" / "ywss" / "server.mjs"
HOCUSPOCUS = BENCH / "peers" / "hocuspocus" / "server.mjs"

SERVER_CORE = "0"
LOADGEN_CORE = "1"

PORT_RE = re.compile(r"http://127\.0\.0\.1:(\d+)/")

ALL_SERVERS = ("tongpin", "pycrdt", "ywss")
PEERS = ("pycrdt", "ywss")


def log(msg: str) -> None:
    print(f"[bench] {msg}", file=sys.stderr, flush=True)


def check_setup() -> None:
    """Fail early with the command that fixes a missing piece."""
    missing = []
    if not (BENCH / "js" / "node_modules" / "y-websocket").is_dir():
        missing.append("(cd bench/js && npm ci)")
    if not (BENCH / "peers" / "ywss" / "node_modules" / "@y" / "websocket-server").is_dir():
        missing.append("(cd bench/peers/ywss && npm ci)")
    try:
        import pycrdt.websocket  # noqa: F401
    except ImportError:
        missing.append(".venv/bin/pip install -e '.[bench]'")
    if shutil.which("taskset") is None:
        missing.append("apt-get install util-linux (taskset)")
    if missing:
        raise SystemExit("bench setup is incomplete; run: " + "; ".join(missing))


# Tongpin's per-connection and per-user limits, and its token check, are for
# untrusted clients; a load generator is one "user" on loopback making
# thousands of connections and updates. The limits stay switched on (their
# checks are part of the cost) but set far above the load; older checkouts
# without these settings ignore the variables.
TONGPIN_BENCH_ENV = {
    "TONGPIN_AUTH": "off",
    "TONGPIN_MSG_RATE": "1000000000",
    "TONGPIN_BYTE_RATE": "1000000000000",
    "TONGPIN_USER_MSG_RATE": "1000000000",
    "TONGPIN_USER_BYTE_RATE": "1000000000000",
    "TONGPIN_CONNECT_RATE": "1000000000",
    "TONGPIN_MAX_CONNECTIONS_PER_USER": "1000000",
    "TONGPIN_MAX_DRAFTS_PER_CONNECTION": "100000",
}


def tree_from_env() -> Path | None:
    """``TONGPIN_BENCH_TREE=DIR`` runs Tongpin from DIR (e.g. a ``git archive`` of a commit)."""
    raw = os.environ.get("TONGPIN_BENCH_TREE")
    return Path(raw).resolve() if raw else None


@dataclass
class Server:
    """One server process under test, pinned to core 0."""

    name: str
    data_dir: Path
    extra: Sequence[str] = ()
    env: dict[str, str] = field(default_factory=dict)
    tree: Path | None = field(default_factory=lambda: tree_from_env())  # Tongpin from another checkout
    proc: subprocess.Popen[str] | None = None
    port: int = 0
    _stderr: IO[str] | None = None

    def command(self) -> list[str]:
        if self.name in ("tongpin", "tongpin-asgi"):
            python = os.environ.get("TONGPIN_BENCH_PYTHON") or str(VENV_BIN / "python")  # e.g. a venv with uvloop
            cmd = [python, "-m", "hub.cli", "serve", "--port", "0", "--data-dir", str(self.data_dir)]
            cmd += ["--log-level", "warning"]
            if self.name == "tongpin-asgi":
                cmd += ["--raw-ws", "false"]
            return [*cmd, *self.extra]
        if self.name == "pycrdt":
            return [str(VENV_BIN / "python"), "-m", "bench.peers.pycrdt_server", "--port", "0", *self.extra]
        if self.name == "ywss":
            return ["node", str(YWSS), *self.extra]
        if self.name == "hocuspocus":
            return ["node", str(HOCUSPOCUS), *self.extra]
        raise ValueError(f"unknown server {self.name!r}")

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    @property
    def url(self) -> str:
        """The y-websocket server URL; clients append ``/{room}/{draft}``."""
        return f"ws://127.0.0.1:{self.port}/yjs"

    @property
    def hocuspocus_url(self) -> str:
        """The Hocuspocus-dialect URL: Tongpin's ``/hocuspocus``, the Hocuspocus server's root."""
        if self.name.startswith("tongpin"):
            return f"ws://127.0.0.1:{self.port}/hocuspocus"
        return f"ws://127.0.0.1:{self.port}"

    def start(self, timeout: float = 20.0) -> Server:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        env = {**os.environ, "PORT": "0", "HOST": "127.0.0.1", **self.env}
        if self.name.startswith("tongpin"):
            env = {**TONGPIN_BENCH_ENV, **env}
        cwd = ROOT
        if self.tree is not None and self.name.startswith("tongpin"):
            cwd = self.tree
            env["PYTHONPATH"] = str(self.tree)
        self._stderr = open(self.data_dir / f"{self.name}.stderr.log", "a")  # noqa: SIM115 (closed in stop)
        self.proc = subprocess.Popen(
            ["taskset", "-c", SERVER_CORE, *self.command()],
            cwd=cwd,
            env=env,
            stdout=subprocess.PIPE,
            stderr=self._stderr,
            text=True,
        )
        deadline = time.monotonic() + timeout
        assert self.proc.stdout is not None
        while time.monotonic() < deadline:
            line = self.proc.stdout.readline()
            if not line:
                raise RuntimeError(f"{self.name} exited before listening (see {self.data_dir})")
            m = PORT_RE.search(line)
            if m:
                self.port = int(m.group(1))
                return self
        raise RuntimeError(f"{self.name} did not print its port in {timeout}s")

    def stop(self, timeout: float = 15.0) -> int | None:
        if self.proc is None:
            return None
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                log(f"{self.name} ignored SIGTERM for {timeout}s; killing it")
                self.proc.kill()
                self.proc.wait()
        code = self.proc.returncode
        if self.proc.stdout is not None:
            self.proc.stdout.close()
        self.proc = None
        if self._stderr is not None:
            self._stderr.close()
            self._stderr = None
        return code

    def cpu_seconds(self) -> float:
        return proc_cpu_seconds(self.pid)

    def rss_kib(self) -> int:
        return proc_rss_kib(self.pid)

    def __enter__(self) -> Server:
        return self.start()

    def __exit__(self, t: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None) -> None:
        self.stop()


def proc_cpu_seconds(pid: int) -> float:
    """utime + stime of every thread of ``pid``, from /proc/PID/stat."""
    raw = Path(f"/proc/{pid}/stat").read_text()
    fields = raw[raw.rindex(")") + 2 :].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def proc_rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise RuntimeError(f"no VmRSS for {pid}")


def loadgen(config: dict[str, object], timeout: float = 180.0) -> dict[str, object]:
    """Run the Node load generator on core 1 and return its JSON result."""
    proc = subprocess.run(
        ["taskset", "-c", LOADGEN_CORE, "node", "--max-old-space-size=4096", str(LOADGEN), json.dumps(config)],
        cwd=BENCH / "js",
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    if proc.stderr:
        for line in proc.stderr.splitlines()[-20:]:
            log(line)
    if proc.returncode != 0:
        raise RuntimeError(f"load generator failed ({proc.returncode}) for {config.get('mode')}")
    result: dict[str, object] = json.loads(proc.stdout.strip().splitlines()[-1])
    return result


def loadgen_start(config: dict[str, object]) -> subprocess.Popen[str]:
    """Start the load generator without waiting (for modes that hold clients open)."""
    return subprocess.Popen(
        ["taskset", "-c", LOADGEN_CORE, "node", "--max-old-space-size=4096", str(LOADGEN), json.dumps(config)],
        cwd=BENCH / "js",
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def loadgen_line(proc: subprocess.Popen[str], timeout: float) -> dict[str, object]:
    """The next JSON line the generator prints (it prints one when it starts holding)."""
    assert proc.stdout is not None
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        line = proc.stdout.readline()
        if not line:
            raise RuntimeError("load generator exited early")
        if line.startswith("{"):
            result: dict[str, object] = json.loads(line)
            return result
    raise RuntimeError("load generator printed nothing in time")


def loadgen_finish(proc: subprocess.Popen[str], timeout: float = 60.0) -> dict[str, object]:
    out, err = proc.communicate(timeout=timeout)
    for line in err.splitlines()[-20:]:
        log(line)
    if proc.returncode != 0:
        raise RuntimeError(f"load generator failed ({proc.returncode})")
    result: dict[str, object] = json.loads(out.strip().splitlines()[-1])
    return result


def tongpin_version() -> dict[str, object]:
    """Which Tongpin was measured: the commit, and whether the tree had local changes."""
    tree = tree_from_env()
    if tree is not None:
        return {"tree": str(tree), "commit": os.environ.get("TONGPIN_BENCH_COMMIT", "unknown")}

    def git(*args: str) -> str:
        return subprocess.run(["git", *args], cwd=ROOT, capture_output=True, text=True).stdout.strip()

    dirty = bool(git("status", "--porcelain", "--untracked-files=no", "--", "hub", "rooms", "workers", "schema"))
    return {"tree": str(ROOT), "commit": git("rev-parse", "--short", "HEAD"), "local_changes": dirty}


def machine() -> dict[str, object]:
    model = "unknown"
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            model = line.split(":", 1)[1].strip()
            break
    node = subprocess.run(["node", "--version"], capture_output=True, text=True).stdout.strip()
    return {
        "cpus": os.cpu_count(),
        "cpu_model": model,
        "python": sys.version.split()[0],
        "node": node,
        "server_core": SERVER_CORE,
        "loadgen_core": LOADGEN_CORE,
        "date": time.strftime("%Y-%m-%d %H:%M:%S %Z"),
        "loadavg_at_start": Path("/proc/loadavg").read_text().split()[:3],
        "tongpin": tongpin_version(),
    }


def save(name: str, payload: dict[str, object]) -> Path:
    """Write ``bench/results/NAME-STAMP.json`` (and ``NAME-latest.json``).

    ``BENCH_SESSION`` (set by ``bench/run_all.sh``) groups the repeats of one
    full run so that ``bench.report`` takes medians over them.
    """
    RESULTS.mkdir(parents=True, exist_ok=True)
    stamp = time.strftime("%Y%m%d-%H%M%S")
    payload = {"session": os.environ.get("BENCH_SESSION", stamp), **payload}
    path = RESULTS / f"{name}-{stamp}.json"
    path.write_text(json.dumps(payload, indent=2, ensure_ascii=False) + "\n")
    latest = RESULTS / f"{name}-latest.json"
    latest.write_text(path.read_text())
    log(f"wrote {path.relative_to(ROOT)}")
    return path
