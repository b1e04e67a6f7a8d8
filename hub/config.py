"""Configuration: defaults, overridden by ``TONGPIN_*`` variables, then by flags.

Every setting is one ``Setting`` row below; ``docs/CONFIG.md`` is generated
from these rows (``python -m hub.config``) and a test keeps the two equal.
"""

from __future__ import annotations

import argparse
import os
import socket
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

__all__ = ["Settings", "add_arguments", "from_sources"]


def _node_id() -> str:
    return f"{socket.gethostname()}-{uuid.uuid4().hex[:6]}"


@dataclass(frozen=True, slots=True)
class Settings:
    host: str = field(default="127.0.0.1", metadata={"help": "Address to listen on."})
    port: int = field(default=8765, metadata={"help": "Port to listen on; 0 picks a free one."})
    data_dir: Path = field(
        default=Path("var"),
        metadata={"help": "Directory for the embedded SQLite database and generated secrets."},
    )
    database_url: str = field(
        default="",
        metadata={"help": "Store: empty for SQLite in the data directory, `sqlite:///path`, or `postgresql://...`."},
    )
    redis_url: str = field(default="", metadata={"help": "Broker: empty for in-process (single node), or `redis://...`."})
    node_id: str = field(default_factory=_node_id, metadata={"help": "This node's id in logs and metrics."})
    unload_grace: float = field(
        default=30.0, metadata={"help": "Seconds a draft with no clients stays loaded before it is saved and unloaded."}
    )
    compact_threshold: int = field(
        default=1000, metadata={"help": "Logged updates of one draft that trigger compaction into a snapshot."}
    )
    max_frame: int = field(
        default=8 * 1024 * 1024, metadata={"help": "Largest WebSocket message accepted, in bytes (close 1009 above)."}
    )
    max_outbound: int = field(
        default=4 * 1024 * 1024,
        metadata={"help": "Bytes queued to one slow client before it is closed with 4008."},
    )
    ping_interval: float = field(default=20.0, metadata={"help": "Seconds between keepalive pings."})
    ping_timeout: float = field(default=20.0, metadata={"help": "Seconds to wait for a pong before dropping a socket."})
    journal_batch: int = field(default=1024, metadata={"help": "Most updates committed in one store transaction."})
    journal_backlog: int = field(
        default=100_000,
        metadata={"help": "Most updates waiting for the store; past it clients are closed with 1013."},
    )
    shutdown_timeout: float = field(
        default=10.0, metadata={"help": "Seconds shutdown waits for the store to take the last updates."}
    )
    raw_ws: bool = field(
        default=True,
        metadata={"help": "Write broadcast frames straight to the transport (false: per-socket ASGI send)."},
    )
    log_level: str = field(default="info", metadata={"help": "Log level: debug, info, warning, error."})

    @property
    def sqlite_path(self) -> Path:
        if self.database_url.startswith("sqlite:///"):
            return Path(self.database_url.removeprefix("sqlite:///"))
        return self.data_dir / "tongpin.sqlite3"


def _env_name(name: str) -> str:
    return "TONGPIN_" + name.upper()


def _convert(kind: Any, raw: str) -> Any:
    if kind in (bool, "bool"):
        low = raw.strip().lower()
        if low not in {"1", "true", "yes", "on", "0", "false", "no", "off"}:
            raise ValueError(f"not a boolean: {raw!r}")
        return low in {"1", "true", "yes", "on"}
    if kind in (int, "int"):
        return int(raw)
    if kind in (float, "float"):
        return float(raw)
    if kind in (Path, "Path"):
        return Path(raw)
    return raw


def add_arguments(parser: argparse.ArgumentParser) -> None:
    for f in fields(Settings):
        flag = "--" + f.name.replace("_", "-")
        parser.add_argument(flag, dest=f.name, default=None, help=f"{f.metadata['help']} [{_env_name(f.name)}]")


def from_sources(env: Mapping[str, str] | None = None, args: argparse.Namespace | None = None) -> Settings:
    env = os.environ if env is None else env
    values: dict[str, Any] = {}
    for f in fields(Settings):
        raw = env.get(_env_name(f.name))
        if args is not None and getattr(args, f.name, None) is not None:
            raw = getattr(args, f.name)
        if raw is not None and raw != "":
            try:
                values[f.name] = _convert(f.type, str(raw))
            except ValueError as exc:
                raise SystemExit(f"tongpin: bad value for {f.name}: {exc}") from None
    return Settings(**values)


def markdown_table() -> str:
    rows = ["| flag | variable | default | meaning |", "|---|---|---|---|"]
    for f in fields(Settings):
        default = "(generated)" if f.name == "node_id" else repr(f.default) if f.default != "" else "(empty)"
        if isinstance(f.default, Path):
            default = str(f.default)
        rows.append(f"| `--{f.name.replace('_', '-')}` | `{_env_name(f.name)}` | `{default}` | {f.metadata['help']} |")
    return "\n".join(rows) + "\n"


if __name__ == "__main__":
    print("# Configuration\n\nGenerated from `hub/config.py`; do not edit by hand.")
    print("Flags override `TONGPIN_*` variables, which override the defaults.\n")
    print(markdown_table(), end="")
