"""Fixtures of the workflow tests: a seeded store on each backend (``tests.workflow.bench``)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import pytest_asyncio

from tests.workflow.bench import Bench, open_bench

BACKENDS = ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]


@pytest.fixture(params=BACKENDS)
async def bench(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Bench]:
    """A fresh store for one test, on each backend."""
    async with open_bench(request.param, tmp_path) as opened:
        yield opened


@pytest_asyncio.fixture(scope="module", loop_scope="module", params=BACKENDS)
async def shared(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Bench]:
    """One store per backend for a module whose tests each make things of their own
    (the module's tests run in its event loop: ``pytest.mark.asyncio(loop_scope="module")``)."""
    async with open_bench(request.param, tmp_path_factory.mktemp("shared")) as opened:
        yield opened
