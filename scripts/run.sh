#!/usr/bin/env bash
# Set up (first time) and run one hub on the embedded defaults:
# SQLite in ./var, in-process broker. Extra arguments go to `tongpin serve`.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/bootstrap.sh
exec .venv/bin/tongpin serve "$@"
