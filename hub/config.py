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
    redis_url: str = field(
        default="", metadata={"help": "Broker: empty for in-process (single node), or `redis://...`."}
    )
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
        default=10.0,
        metadata={
            "help": "Seconds each shutdown step may take: the store taking the last updates, the last live "
            "events reaching subscribers, a running job tick finishing."
        },
    )
    raw_ws: bool = field(
        default=True,
        metadata={"help": "Write broadcast frames straight to the transport (false: per-socket ASGI send)."},
    )
    head_timeout: float = field(
        default=10.0,
        metadata={"help": "Seconds a client has to send a complete request head (upgrades too) before it is dropped."},
    )
    log_level: str = field(default="info", metadata={"help": "Log level: debug, info, warning, error."})
    secret: str = field(
        default="",
        repr=False,
        metadata={
            "help": "Token signing secret, at least 32 bytes; set it in the environment only (no flag). "
            "Empty: development mode, with a secret generated into the data directory and dev sign-in on.",
            "env_only": True,
        },
    )
    auth: str = field(
        default="required",
        metadata={
            "help": "`required`: websockets need `?token=`. `off`: anonymous editors anywhere, for development "
            "and benchmarks only; refused when `TONGPIN_SECRET` is set or the host is not loopback."
        },
    )
    allowed_origins: str = field(
        default="",
        metadata={
            "help": "Comma-separated origins (`https://news.example`) whose pages may open websockets, besides "
            "the hub's own; `*` for any. Clients that send no Origin (not browsers) are let through."
        },
    )
    token_ttl: float = field(default=12 * 3600.0, metadata={"help": "Lifetime of dev sign-in tokens, seconds."})
    demo: bool = field(
        default=False,
        metadata={
            "help": "Development mode: on the first start also seed demo drafts with text and topic reports, so "
            "the first page has work on it (`scripts/run.sh` turns it on)."
        },
    )
    auth_check_interval: float = field(
        default=1.0,
        metadata={"help": "Seconds between polls of the directory for disabled users and changed rights."},
    )
    msg_rate: float = field(
        default=100.0,
        metadata={"help": "Messages per second one connection may send (4 s burst); past it 4429. 0: no limit."},
    )
    byte_rate: float = field(
        default=1024.0 * 1024,
        metadata={"help": "Bytes per second one connection may send (burst: 4 s or one max frame). 0: no limit."},
    )
    user_msg_rate: float = field(
        default=300.0, metadata={"help": "Messages per second one user may send over all their connections."}
    )
    user_byte_rate: float = field(
        default=4.0 * 1024 * 1024, metadata={"help": "Bytes per second one user may send over all their connections."}
    )
    connect_rate: float = field(
        default=10.0, metadata={"help": "Connects per second one user may make (4 s burst); past it 4429."}
    )
    max_connections_per_user: int = field(
        default=50, metadata={"help": "Open connections one user may hold on one node; past it 4430."}
    )
    max_drafts_per_connection: int = field(
        default=32, metadata={"help": "Drafts one multi-document connection may hold; past it 4431."}
    )
    auth_timeout: float = field(
        default=10.0, metadata={"help": "Seconds an in-band-authenticating socket has to authenticate (4408)."}
    )
    auth_max_bytes: int = field(
        default=64 * 1024, metadata={"help": "Bytes a socket may send before authenticating in-band (4413)."}
    )
    upgrade_refusal_limit: int = field(
        default=20,
        metadata={
            "help": "Refused websocket upgrades (bad or missing token, disallowed Origin) from one client address "
            "within `upgrade_refusal_cooldown` seconds that block it: every upgrade from it is answered 429 for that "
            "long. The peer address counts (behind a reverse proxy, limit there or set 0). 0: no limit."
        },
    )
    upgrade_refusal_cooldown: float = field(
        default=30.0, metadata={"help": "Seconds an address stays blocked after too many refused upgrades."}
    )
    audit_backlog: int = field(
        default=50_000, metadata={"help": "Audit events waiting for the store; past it new ones are dropped."}
    )
    live_history: int = field(
        default=10_000,
        metadata={
            "help": "Events kept per live channel (and the most one resubscribe replays); older ones are "
            "trimmed, and a client further behind gets `recovered: false`."
        },
    )
    live_history_age: float = field(
        default=7 * 24 * 3600.0, metadata={"help": "Seconds a live event is kept at most (retention)."}
    )
    live_max_subscriptions: int = field(
        default=64, metadata={"help": "Channels one `/live` connection may subscribe to at once."}
    )
    live_presence_grace: float = field(
        default=5.0,
        metadata={"help": "Seconds a dropped `/live` connection stays in room presence (reloads do not flap)."},
    )
    live_presence_detail: int = field(
        default=100,
        metadata={"help": "Users in a room above which presence is sent as counts and summaries, not each change."},
    )
    live_node_timeout: float = field(
        default=5.0,
        metadata={"help": "Seconds without a heartbeat after which a node's presence entries are dropped."},
    )
    live_publish_keys: str = field(
        default="",
        repr=False,
        metadata={
            "help": "Comma-separated bearer keys (32+ characters each) of trusted services that may "
            "`POST /live/publish`; empty: the endpoint is off.",
            "env_only": True,
        },
    )
    workers: str = field(
        default="all",
        metadata={
            "help": "Background jobs `tongpin serve` hosts: `all`, `none`, or a comma list "
            "(`monitor-fetch,alert-escalation`). Each runs on one instance of the cluster at a time."
        },
    )
    worker_lease_ttl: float = field(
        default=5.0,
        metadata={"help": "Seconds a job's lease lasts unrenewed: another instance takes over a dead holder's job."},
    )
    worker_port: int = field(
        default=8766, metadata={"help": "Port of `tongpin worker`'s health and metrics endpoint; 0 picks a free one."}
    )
    dispatch_escalation_interval: float = field(
        default=5.0,
        metadata={"help": "Seconds between the dispatch-escalation job's looks for receipts past their deadline."},
    )
    session_schedule_interval: float = field(
        default=5.0,
        metadata={"help": "Seconds between the session-schedule job's looks for scheduled sessions due to open."},
    )
    duty_fallback_unit: str = field(
        default="",
        metadata={"help": "Unit that gets unrouted alerts and escalations when no unit is on duty; empty: none."},
    )
    monitor_tick: float = field(
        default=1.0, metadata={"help": "Seconds between the monitor's looks for sources due to be fetched."}
    )
    monitor_ack_timeout: float = field(
        default=600.0,
        metadata={"help": "Seconds a high-severity alert may stay unacknowledged before it is escalated to duty."},
    )
    monitor_max_bytes: int = field(
        default=5 * 1024 * 1024, metadata={"help": "Largest feed body the monitor reads, in bytes (decompressed)."}
    )
    monitor_max_redirects: int = field(default=5, metadata={"help": "Redirects the monitor follows per fetch."})
    monitor_backoff_max: float = field(
        default=3600.0, metadata={"help": "Longest wait, in seconds, before retrying a failing feed source."}
    )
    monitor_allow_private: bool = field(
        default=False,
        metadata={
            "help": "Let the monitor fetch feeds from loopback, private, link-local and other internal addresses "
            "(on-premises feeds, tests); off: only public addresses."
        },
    )

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
        if f.metadata.get("env_only"):
            continue  # flags show in process lists
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
    settings = Settings(**values)
    if settings.auth not in ("required", "off"):
        raise SystemExit(f"tongpin: bad value for auth: {settings.auth!r} (required or off)")
    return settings


def markdown_table() -> str:
    rows = ["| flag | variable | default | meaning |", "|---|---|---|---|"]
    for f in fields(Settings):
        default = "(generated)" if f.name == "node_id" else repr(f.default) if f.default != "" else "(empty)"
        if isinstance(f.default, Path):
            default = str(f.default)
        flag = "(environment only)" if f.metadata.get("env_only") else f"`--{f.name.replace('_', '-')}`"
        rows.append(f"| {flag} | `{_env_name(f.name)}` | `{default}` | {f.metadata['help']} |")
    return "\n".join(rows) + "\n"


if __name__ == "__main__":
    print("# Configuration\n\nGenerated from `hub/config.py`; do not edit by hand.")
    print("Flags override `TONGPIN_*` variables, which override the defaults.\n")
    print(markdown_table(), end="")
