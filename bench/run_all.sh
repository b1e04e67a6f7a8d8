#!/usr/bin/env bash
# Run every benchmark (each run is bounded to ~3 minutes), then write the
# figures into docs/BENCHMARKS.md. By hand only: benchmarks are never tests.
#
#   bash bench/run_all.sh            # 3 repeats of the fan-out/CPU runs
#   REPEATS=1 bash bench/run_all.sh  # quicker
#   TONGPIN_BENCH_TREE=/tmp/tree bash bench/run_all.sh   # measure another checkout
#
# Needs: the venv with the bench extra (`bash scripts/bootstrap.sh`), Node 20,
# taskset (util-linux). Installs bench/js and bench/peers/ywss from their lock
# files if missing. Loopback only.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=.venv/bin/python
failed=()
run() {  # one benchmark; a failure is reported at the end, the others still run
    echo "== $*" >&2
    "$@" || failed+=("$*")
}
REPEATS="${REPEATS:-3}"

[ -d bench/js/node_modules/y-websocket ] || (cd bench/js && npm ci --no-audit --no-fund --loglevel=error)
[ -d bench/peers/ywss/node_modules/@y/websocket-server ] \
    || (cd bench/peers/ywss && npm ci --no-audit --no-fund --loglevel=error)
$PY -c 'import pycrdt.websocket' 2>/dev/null || $PY -m pip install -q -e '.[bench]'

ulimit -n "$(ulimit -Hn)"  # 2,000 clients: servers and generator inherit this
export BENCH_SESSION="${BENCH_SESSION:-$(date +%Y%m%d-%H%M%S)}"
echo "bench session $BENCH_SESSION" >&2

for _ in $(seq "$REPEATS"); do
    for receivers in full raw; do
        run $PY -m bench.fanout --receivers "$receivers" --sizes 2,50
        run $PY -m bench.fanout --receivers "$receivers" --sizes 200
    done
    run $PY -m bench.asgi_send_cost
done
run $PY -m bench.max_rate --servers tongpin,ywss
run $PY -m bench.max_rate --servers pycrdt
run $PY -m bench.idle
run $PY -m bench.cold_load --servers tongpin,tongpin-nocompact,ywss
run $PY -m bench.cold_load --servers pycrdt
run $PY -m bench.report
if [ ${#failed[@]} -gt 0 ]; then
    printf 'failed: %s\n' "${failed[@]}" >&2
    exit 1
fi
