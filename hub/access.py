"""Who may do what on this node: the identity parts of a hub, with one lifecycle.

``Access`` owns the directory (built from the same database URL as the
store; on SQLite it shares the file), the token secret, the audit trail, the
live sessions with their watcher, and the websocket gate. ``Hub`` opens it
after the store (whose migrations create the directory's tables) and closes
it before the store. Start: directory, seed (units always; demo users and
rooms in development mode), audit writer, sessions watcher. Stop: watcher,
audit (flushing what waits), directory.
"""

from __future__ import annotations

import ipaddress
import logging

from hub.audit import AuditTrail
from hub.auth import Tokens, install_log_redaction, parse_origins, resolve_secret
from hub.config import Settings
from hub.gate import Gate
from hub.limits import Limits, RefusalLimit
from hub.sessions import Sessions
from rooms.directory import Directory
from rooms.seed import seed

__all__ = ["Access", "make_directory"]

log = logging.getLogger("tongpin.access")


def make_directory(settings: Settings) -> Directory:
    url = settings.database_url
    if url.startswith(("postgres://", "postgresql://")):
        from rooms.postgres_directory import PostgresDirectory

        return PostgresDirectory(url)
    from rooms.sqlite_directory import SqliteDirectory

    return SqliteDirectory(settings.sqlite_path)


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def limits_of(settings: Settings) -> Limits:
    return Limits(
        msg_rate=settings.msg_rate,
        byte_rate=settings.byte_rate,
        user_msg_rate=settings.user_msg_rate,
        user_byte_rate=settings.user_byte_rate,
        connect_rate=settings.connect_rate,
        max_connections_per_user=settings.max_connections_per_user,
        max_frame=settings.max_frame,
    )


class Access:
    def __init__(self, settings: Settings, directory: Directory | None = None) -> None:
        self.settings = settings
        secret = resolve_secret(settings.secret, settings.data_dir)
        self.dev_mode = secret.generated
        self.auth_off = settings.auth == "off"
        if self.auth_off and not self.dev_mode:
            raise SystemExit("tongpin: --auth off is refused when TONGPIN_SECRET is set")
        if self.auth_off and not is_loopback(settings.host):
            raise SystemExit("tongpin: --auth off is refused unless the hub listens on a loopback address")
        self.directory = directory if directory is not None else make_directory(settings)
        self.tokens = Tokens(secret.value)
        self.audit = AuditTrail(self.directory, settings.node_id, max_backlog=settings.audit_backlog)
        self.sessions = Sessions(self.directory, self.audit, limits_of(settings), interval=settings.auth_check_interval)
        self.gate = Gate(
            tokens=self.tokens,
            sessions=self.sessions,
            audit=self.audit,
            allowed_origins=parse_origins(settings.allowed_origins),
            auth_off=self.auth_off,
            refusals=RefusalLimit(settings.upgrade_refusal_limit, settings.upgrade_refusal_cooldown),
        )
        install_log_redaction()

    async def start(self) -> None:
        await self.directory.open()
        units, users = await seed(self.directory, demo=self.dev_mode)
        if units or users:
            log.info("seeded %d units and %d demo users", units, users)
        await self.audit.__aenter__()
        await self.sessions.__aenter__()
        if self.auth_off:
            log.warning(
                "AUTHENTICATION IS OFF (--auth off): anyone who can reach %s may open and edit every draft "
                "anonymously. For development and benchmarks only.",
                self.settings.host,
            )
        elif self.dev_mode:
            log.warning(
                "development mode: no TONGPIN_SECRET, so the token secret is %s and dev sign-in "
                "(POST /api/dev/signin) lets anyone sign in as any demo user. Set TONGPIN_SECRET in production.",
                self.settings.data_dir / "secret.key",
            )
            if not is_loopback(self.settings.host):
                log.warning(
                    "development mode on a non-loopback address (%s): anyone on the network may sign in",
                    self.settings.host,
                )

    def metric_rows(self) -> list[tuple[str, str, str, float]]:
        sessions, audit, gate = self.sessions, self.audit, self.gate
        return [
            ("tongpin_sessions", "gauge", "Authenticated sockets open on this node.", sessions.open_sessions),
            ("tongpin_upgrades_refused_total", "counter", "Upgrades refused: origin or token.", gate.refused_upgrades),
            ("tongpin_upgrades_blocked_total", "counter", "Upgrades 429: address blocked.", gate.blocked_upgrades),
            ("tongpin_sessions_refused_total", "counter", "Sockets refused after the upgrade.", sessions.refused),
            ("tongpin_rate_limited_total", "counter", "Sockets closed by a rate limit (4429).", sessions.rate_limited),
            ("tongpin_sessions_revoked_total", "counter", "Sockets closed: rights ended.", sessions.revoked),
            ("tongpin_directory_polls_total", "counter", "Revocation polls of the directory.", sessions.polls),
            ("tongpin_audit_backlog", "gauge", "Audit events waiting for the store.", audit.backlog),
            ("tongpin_audit_dropped_total", "counter", "Audit events dropped (backlog full).", audit.dropped),
        ]

    async def stop(self) -> None:
        await self.sessions.__aexit__(None, None, None)
        await self.audit.stop(self.settings.shutdown_timeout)
        await self.directory.close()
