#!/usr/bin/env bash
# Set up (first time) and run the whole test suite: lint (ruff), types (mypy),
# unit, contract and integration tests. Extra arguments go to pytest.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/bootstrap.sh --with-node --with-browser
export TONGPIN_TEST_DATABASE_URL="${TONGPIN_TEST_DATABASE_URL:-postgresql://postgres@127.0.0.1:5432/test}"
export TONGPIN_TEST_REDIS_URL="${TONGPIN_TEST_REDIS_URL:-redis://127.0.0.1:6379/0}"
exec .venv/bin/python -m pytest "$@"
