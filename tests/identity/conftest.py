"""One development-mode hub process shared by the identity tests (real sockets, port 0)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.identity.hubproc import HubProcess

# Small limits so the limit tests are quick; a fast revocation poll.
HUB_ENV = {
    "TONGPIN_AUTH_CHECK_INTERVAL": "0.2",
    "TONGPIN_MAX_CONNECTIONS_PER_USER": "3",
    "TONGPIN_MSG_RATE": "50",
    "TONGPIN_UNLOAD_GRACE": "2",
}


@pytest.fixture(scope="session")
def hub(tmp_path_factory: pytest.TempPathFactory) -> Iterator[HubProcess]:
    proc = HubProcess(tmp_path_factory.mktemp("identity-hub"), HUB_ENV).start()
    try:
        yield proc
    finally:
        proc.stop()
