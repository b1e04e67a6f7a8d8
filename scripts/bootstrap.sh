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

with_node=0
with_browser=0
for flag in "$@"; do
    case "$flag" in
        --with-node) with_node=1 ;;
        --with-browser) with_browser=1 ;;  # Chromium for the web client tests (tests/web)
        *) echo "bootstrap: unknown flag $flag (--with-node, --with-browser)" >&2; exit 2 ;;
    esac
done

if [ "$with_node" = 1 ]; then
    command -v npm >/dev/null || { echo "npm is needed for the interop tests" >&2; exit 1; }
    if [ ! -d tests/js/node_modules ] || [ tests/js/package-lock.json -nt tests/js/node_modules ]; then
        (cd tests/js && npm ci --no-audit --no-fund --loglevel=error)
    fi
fi

if [ "$with_browser" = 1 ]; then
    # Debian's Chromium (Playwright drives it; its own browser downloads are never used),
    # and a CJK font so screenshots of the Chinese interface are legible.
    missing=()
    [ -x /usr/bin/chromium ] || missing+=(chromium)
    { command -v fc-list >/dev/null && fc-list :lang=zh | grep -q .; } || missing+=(fonts-wqy-microhei)
    if [ "${#missing[@]}" -gt 0 ]; then
        if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
            echo "bootstrap: installing ${missing[*]} for the browser tests"
            apt-get update -q >/dev/null
            DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${missing[@]}" >/dev/null
        else
            echo "##########################################################################" >&2
            echo "bootstrap: MISSING ${missing[*]}: the browser tests (tests/web) need them." >&2
            echo "bootstrap: run as root, or: sudo apt-get install -y ${missing[*]}" >&2
            echo "##########################################################################" >&2
        fi
    fi
fi
