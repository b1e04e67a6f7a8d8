#!/usr/bin/env bash
# Set up (first time) and run one hub on the embedded defaults:
# SQLite in ./var, in-process broker. Extra arguments go to `tongpin serve`.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/bootstrap.sh
# Development mode (no TONGPIN_SECRET) seeds demo people and sessions; with
# TONGPIN_DEMO it also seeds demo drafts and topic reports on the first start.
export TONGPIN_DEMO="${TONGPIN_DEMO:-1}"
exec .venv/bin/tongpin serve "$@"
