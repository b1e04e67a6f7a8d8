#!/usr/bin/env bash
# Make this checkout ready: a virtualenv with Tongpin and its dev tools, and
# the npm packages the interop tests and benchmarks drive. Safe to re-run.
set -euo pipefail
cd "$(dirname "$0")/.."

pick_python() {
    for py in python3.13 python3.12 python3.11 python3; do
        if command -v "$py" >/dev/null 2>&1 && "$py" -c 'import sys; sys.exit(sys.version_info < (3, 11))'; then
            echo "$py"; return
        fi
    done
    echo "tongpin needs Python 3.11 or newer" >&2; exit 1
}

if [ ! -x .venv/bin/python ]; then
    "$(pick_python)" -m venv .venv
fi
stamp=.venv/.tongpin-installed
if [ ! -f "$stamp" ] || [ pyproject.toml -nt "$stamp" ]; then
    .venv/bin/python -m pip install -q --disable-pip-version-check -e ".[dev,bench]"
    touch "$stamp"
fi

if [ "${1:-}" = "--with-node" ]; then
    command -v npm >/dev/null || { echo "npm is needed for the interop tests" >&2; exit 1; }
    if [ ! -d tests/js/node_modules ] || [ tests/js/package-lock.json -nt tests/js/node_modules ]; then
        (cd tests/js && npm ci --no-audit --no-fund --loglevel=error)
    fi
fi
