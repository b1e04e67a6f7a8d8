"""``tongpin``: the command line.

    tongpin serve [flags]    run a hub node (embedded defaults need no flags)
    tongpin migrate [flags]  bring the store's schema up to date
"""

from __future__ import annotations

import argparse
import asyncio
import sys

from hub import __version__
from hub.config import Settings, add_arguments, from_sources

__all__ = ["main"]


def _serve(settings: Settings) -> int:
    from hub.server import build_server, configure_logging

    configure_logging(settings.log_level)
    server = build_server(settings)
    server.run()
    return 0


def _migrate(settings: Settings) -> int:
    from hub.state import make_store

    async def run() -> None:
        store = make_store(settings, migrate=True)
        await store.open()
        await store.close()

    asyncio.run(run())
    print("schema is up to date")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="tongpin", description="Tongpin (同频) real-time hub")
    parser.add_argument("--version", action="version", version=f"tongpin {__version__}")
    commands = parser.add_subparsers(dest="command", required=True)
    for name, help_ in (("serve", "run a hub node"), ("migrate", "apply schema migrations")):
        sub = commands.add_parser(name, help=help_)
        add_arguments(sub)
    args = parser.parse_args(argv)
    settings = from_sources(args=args)
    if args.command == "serve":
        return _serve(settings)
    return _migrate(settings)


if __name__ == "__main__":
    sys.exit(main())
