#!/usr/bin/env bash
# Mixed shopping benchmark (issue: orders). In one run, on loopback, with private data dirs:
# `ecom-load mixed` (browse, cart, checkout, direct orders, pay, cancel/refund, popular, admin
# restocks; audit afterwards) against ecomd with --fsync always, then the same load against
# ecomd with --fsync off as the baseline of this run (what durability costs on this disk).
# Prints both summaries and the ratios. Usage:
#   tools/bench_mixed.sh [seconds (default 20)] [connections (default 64)] [users (default 2000)]
set -euo pipefail
cd "$(dirname "$0")/.."
duration="${1:-20}" connections="${2:-64}" users="${3:-2000}"
[ -x build/bin/ecomd ] && [ -x build/bin/ecom-load ] || cmake --build build -j2 --target ecomd ecom-load
work=$(mktemp -d /tmp/ecomd-mixed.XXXXXX)
cleanup() {
  [ -n "${ecomd_pid:-}" ] && kill "$ecomd_pid" 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT

run() {  # fsync-mode -> summary file
  local mode=$1 port=18591
  build/bin/ecomd --data-dir "$work/$mode" --port "$port" --admin-token bench --fsync "$mode" \
    --log-level warn >"$work/$mode.log" 2>&1 &
  ecomd_pid=$!
  for _ in $(seq 100); do curl -sf "http://127.0.0.1:$port/readyz" >/dev/null && break; sleep 0.1; done
  build/bin/ecom-load mixed --url "http://127.0.0.1:$port" --admin-token bench --users "$users" \
    --products 50 --connections "$connections" --duration "$duration" --no-progress \
    >"$work/$mode.txt" || true
  kill "$ecomd_pid"; wait "$ecomd_pid" 2>/dev/null || true; ecomd_pid=
  echo "== ecomd --fsync $mode"; cat "$work/$mode.txt"; echo
}
run always
run off
rps() { sed -n 's/.*requests: .* = \([0-9.]*\) req\/s.*/\1/p' "$work/$1.txt"; }
p99() { awk -v op="$2" '$1 == op { print $5 }' "$work/$1.txt"; }
python3 - "$(rps always)" "$(rps off)" "$(p99 always pay)" "$(p99 off pay)" <<'PY'
import sys
a, o, pa, po = (float(x) if x else float("nan") for x in sys.argv[1:])
print(f"requests/s  always {a:.0f}  off {o:.0f}  ratio always/off {a / o:.2f}")
print(f"pay p99 ms  always {pa:.2f}  off {po:.2f}")
PY
grep -h "^invariants" "$work/always.txt" "$work/off.txt"
