"""The client families the interop tests drive.

- y-websocket 3 and @y/websocket 4: ``NodeClient`` (``tests/js/yclient.mjs``, ``"v4"``);
- pycrdt: ``YClient``;
- @hocuspocus/provider: ``HocusClient`` (``tests/js/hpclient.mjs``), one socket
  that names the draft in every frame (``room/draft``).

Edits, snapshots and convergence for every family are ``tests.integration.helpers``'
(positions in code points). ``require_v4`` skips loudly (fails under CI) when
the npm packages are missing.
"""

from __future__ import annotations

from tests.conftest import unavailable
from tests.integration.helpers import Client
from tests.integration.node_client import JS_DIR

V4_PACKAGES = ("@y/websocket", "@y/y")
HOCUS_PACKAGES = ("@hocuspocus/provider",)

Member = Client  # a HocusClient is a NodeClient


def require(packages: tuple[str, ...]) -> None:
    for package in packages:
        if not (JS_DIR / "node_modules" / package / "package.json").exists():
            unavailable(f"the npm package {package}", "run `npm ci` in tests/js (scripts/bootstrap.sh --with-node)")


def require_v4() -> None:
    """@y/websocket 4 and Yjs 14 are installed in tests/js."""
    require(V4_PACKAGES)
