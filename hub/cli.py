"""``tongpin``: the command line.

tongpin serve [flags]    run a hub node (embedded defaults need no flags)
tongpin migrate [flags]  bring the store's schema up to date
tongpin worker NAME... [flags]
                         run background jobs (``all`` or names such as
                         monitor-fetch) in a process of their own
tongpin token --user USER [--ttl 1h] [flags]
                         print a token for USER (for scripts); with no
                         TONGPIN_SECRET, signed with the data directory's
                         development secret, the one ``serve`` uses
"""

from __future__ import annotations

import argparse
import asyncio
import getpass
import re
import sys
import time

from hub import __version__
from hub.config import Settings, add_arguments, from_sources

__all__ = ["main"]


def _serve(settings: Settings) -> int:
    from hub.server import build_server, configure_logging
    from rooms.store import SchemaTooNew

    configure_logging(settings.log_level, settings.node_id)
    server = build_server(settings)
    server.run()
    error = server.startup_error
    if error is not None:
        print(f"tongpin serve: {error}", file=sys.stderr)
        return 2 if isinstance(error, SchemaTooNew) else 1  # 2: this code cannot run here at all
    return 0


def _worker(settings: Settings, names: list[str]) -> int:
    from hub.server import configure_logging
    from workers.jobs import select
    from workers.process import build_worker_server

    try:
        jobs = select(names)
    except ValueError as exc:
        print(f"tongpin worker: {exc}", file=sys.stderr)
        return 2
    if not jobs:
        print("tongpin worker: name at least one job", file=sys.stderr)
        return 2
    configure_logging(settings.log_level, settings.node_id)
    build_worker_server(settings, jobs).run()
    return 0


def _migrate(settings: Settings) -> int:
    from hub.state import make_store

    async def run() -> None:
        store = make_store(settings, migrate=True)
        await store.open()
        await store.close()

    from rooms.store import SchemaTooNew, StoreUnavailable

    try:
        asyncio.run(run())
    except (SchemaTooNew, StoreUnavailable) as exc:
        print(f"tongpin migrate: {exc}", file=sys.stderr)
        return 1
    print("schema is up to date")
    return 0


MAX_TTL = 30 * 86400.0
_TTL = re.compile(r"(\d+(?:\.\d+)?)([smhd]?)")


def parse_ttl(text: str) -> float:
    """``90``, ``90s``, ``30m``, ``12h`` or ``7d``: seconds, 1 s to 30 days."""
    match = _TTL.fullmatch(text.strip())
    if match is None:
        raise SystemExit(f"tongpin: bad --ttl {text!r}: use 90, 90s, 30m, 12h or 7d")
    seconds = float(match.group(1)) * {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400}[match.group(2)]
    if not 1 <= seconds <= MAX_TTL:
        raise SystemExit("tongpin: --ttl must be between 1 second and 30 days")
    return seconds


def _token(settings: Settings, user_id: str, ttl: float) -> int:
    from hub.access import make_directory
    from hub.auth import Tokens, resolve_secret
    from hub.state import make_store
    from rooms.directory import AuditEvent
    from rooms.seed import seed

    secret = resolve_secret(settings.secret, settings.data_dir)

    async def run() -> str | None:
        store = make_store(settings, migrate=True)
        await store.open()  # creates or migrates the tables, as serve would
        directory = make_directory(settings)
        try:
            await directory.open()
            await seed(directory, demo=secret.generated)
            user = await directory.user(user_id)
            if user is None or user.disabled:
                return None
            token = Tokens(secret.value).issue(user, ttl)
            detail = {"ttl": ttl, "by": "tongpin token", "os_user": getpass.getuser()}
            await directory.append_audit([AuditEvent("token", time.time(), None, user.unit, None, user.id, detail)])
            return token
        finally:
            await directory.close()
            await store.close()

    token = asyncio.run(run())
    if token is None:
        print(f"tongpin: no enabled user {user_id!r}", file=sys.stderr)
        return 1
    print(token)
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="tongpin", description="Tongpin (同频) real-time hub")
    parser.add_argument("--version", action="version", version=f"tongpin {__version__}")
    commands = parser.add_subparsers(dest="command", required=True)
    for name, help_ in (
        ("serve", "run a hub node"),
        ("migrate", "apply schema migrations"),
        ("token", "print a token for a user"),
        ("worker", "run background jobs in a process of their own"),
    ):
        sub = commands.add_parser(name, help=help_)
        if name == "worker":
            sub.add_argument("jobs", nargs="+", metavar="NAME", help="jobs to host: all, or names (monitor-fetch ...)")
        if name == "token":
            sub.add_argument("--user", required=True, help="user id, e.g. humen-editor")
            sub.add_argument("--ttl", default="1h", help="lifetime: 90, 90s, 30m, 12h or 7d (default 1h)")
        add_arguments(sub)
    args = parser.parse_args(argv)
    settings = from_sources(args=args)
    if args.command == "serve":
        return _serve(settings)
    if args.command == "worker":
        return _worker(settings, args.jobs)
    if args.command == "token":
        return _token(settings, args.user, parse_ttl(args.ttl))
    return _migrate(settings)


if __name__ == "__main__":
    sys.exit(main())
