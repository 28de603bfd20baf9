#!/usr/bin/env bash
# Flash-sale benchmark (issue: ecom-load's opening bell and open loop). In one run, on loopback,
# with a fresh ecomd (--fsync always) and data dir per measurement:
#   1. The opening bell against an open race, for each SIZES entry (users/coupons, default
#      100000/10000 and 1000000/100000): `ecom-load fcfs --opens-in` (connections warmed, 10 %
#      refresh early, every connection's first issue at the bell) and the same sale on a campaign
#      that is already open when the connections start. Time to sell out and the first second's
#      p99, the bell's over the open race's (the baseline of this run), and what the server's
#      /metrics showed at the bell.
#   2. The latency curve: the closed-loop maximum of durable issues (every request gets a coupon,
#      64 connections), then open loops at 50 %, 80 % and 100 % of it (--rate, 256 connections)
#      with corrected p50/p99/p99.9 (from each request's intended send time), the uncorrected p99,
#      and the requests sent late or never sent.
# ROUNDS > 1 repeats part 1 that many times, alternating bell and open race, and prints medians.
# Usage: [SIZES="100000/10000 1000000/100000"] [ROUNDS=1] [CONNECTIONS=256] \
#          tools/bench_sale.sh [open-loop seconds (8)]
set -euo pipefail
cd "$(dirname "$0")/.."
seconds="${1:-8}"
sizes="${SIZES:-100000/10000 1000000/100000}"
rounds="${ROUNDS:-1}"
connections="${CONNECTIONS:-256}"
port=18691
[ -x build/bin/ecomd ] && [ -x build/bin/ecom-load ] || cmake --build build -j2 --target ecomd ecom-load
work=$(mktemp -d /tmp/ecomd-sale.XXXXXX)
cleanup() {
  [ -n "${ecomd_pid:-}" ] && kill "$ecomd_pid" 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT

start_server() {
  rm -rf "$work/data"
  build/bin/ecomd --data-dir "$work/data" --port "$port" --admin-token bench --log-level warn \
    >"$work/ecomd.log" 2>&1 &
  ecomd_pid=$!
  for _ in $(seq 100); do curl -sf "http://127.0.0.1:$port/readyz" >/dev/null && break; sleep 0.1; done
}
stop_server() {
  kill "$ecomd_pid"; wait "$ecomd_pid" 2>/dev/null || true; ecomd_pid=
}
load() {  # output-json args... ; a fresh server for each run
  local out=$1; shift
  start_server
  build/bin/ecom-load fcfs --url "http://127.0.0.1:$port" --admin-token bench --no-progress \
    --json "$@" >"$out" 2>"$out.err" || { echo "ecom-load failed ($*):"; tail -5 "$out.err"; }
  stop_server
}

echo "== 1. the opening bell vs an open race ($connections connections, $rounds round(s))"
for size in $sizes; do
  users=${size%/*} coupons=${size#*/}
  for r in $(seq "$rounds"); do
    load "$work/bell-$users-$r.json" --users "$users" --quantity "$coupons" \
      --connections "$connections" --opens-in 3 --wallet-check-max 20000
    load "$work/open-$users-$r.json" --users "$users" --quantity "$coupons" \
      --connections "$connections" --wallet-check-max 20000
  done
  python3 - "$work" "$users" "$coupons" "$rounds" <<'PY'
import json, statistics, sys
work, users, coupons, rounds = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
def read(kind, r):
    with open(f"{work}/{kind}-{users}-{r}.json") as f:
        return json.load(f)
bell = [read("bell", r) for r in range(1, rounds + 1)]
race = [read("open", r) for r in range(1, rounds + 1)]
med = lambda xs: statistics.median(xs) if xs else float("nan")
def figure(runs, get):
    values = [get(d) for d in runs]
    return med([v for v in values if v is not None]), values
so_b, so_bv = figure(bell, lambda d: d["sold_out_after_ms"])
so_o, so_ov = figure(race, lambda d: d["sold_out_after_ms"])
p99_b, p99_bv = figure(bell, lambda d: d["first_second_latency_us"]["p99"] / 1000)
p99_o, p99_ov = figure(race, lambda d: d["first_second_latency_us"]["p99"] / 1000)
print(f"-- {int(users):,} users, {int(coupons):,} coupons")
print(f"time to sell out ms      bell {so_b:9.1f}  open race {so_o:9.1f}  ratio {so_b / so_o:5.2f}   rounds {so_bv} / {so_ov}")
print(f"first-second p99 ms      bell {p99_b:9.1f}  open race {p99_o:9.1f}  ratio {p99_b / p99_o:5.2f}   rounds {p99_bv} / {p99_ov}")
for d in bell:
    o = d["opening"]
    m = o["server_metrics"]
    print(f"bell: warmed {o['connections_warmed']}/{o['connections']}, early {o['early_requests']} "
          f"(NOT_ACTIVE {o['early_not_active']}), first issues within {o['release_spread_us']['max'] / 1000:.1f} ms "
          f"(p50 {o['release_spread_us']['p50'] / 1000:.1f}), mailbox peak {m['mailbox_depth_peak']}, "
          f"WAL group peak {m['wal_group_records_peak']}, fairness inversions "
          f"{d['fairness']['inverted_losers']}/{d['fairness']['losers']}")
for d in bell + race:
    if not d["invariants"]["pass"]:
        print("FAIL:", d["invariants"]["failures"])
PY
done

echo
echo "== 2. the latency curve of durable issues (${seconds} s per run)"
closed_users=400000
load "$work/closed.json" --users "$closed_users" --quantity "$closed_users" --connections 64 \
  --duration "$seconds" --wallet-check-max 20000
max_rate=$(python3 -c "import json; print(round(json.load(open('$work/closed.json'))['requests_per_s']))")
echo "closed loop, 64 connections: $max_rate req/s"
for share in 50 80 100; do
  rate=$((max_rate * share / 100))
  users=$(( rate * seconds * 11 / 10 + 1000 ))
  load "$work/open-$share.json" --users "$users" --quantity "$users" --connections "$connections" \
    --rate "$rate" --duration "$seconds" --wallet-check-max 20000
done
python3 - "$work" "$max_rate" <<'PY'
import json, sys
work, max_rate = sys.argv[1], float(sys.argv[2])
print(f"{'load':>6} {'target/s':>9} {'sent/s':>9} {'late':>8} {'unsent':>8} "
      f"{'p50 ms':>8} {'p99 ms':>8} {'p99.9 ms':>9} {'uncorr. p99':>12}")
for share in (50, 80, 100):
    with open(f"{work}/open-{share}.json") as f:
        d = json.load(f)
    o, l = d["open_loop"], d["latency_us"]
    print(f"{share:>5}% {o['target_rate_per_s']:9.0f} {o['arrival_rate_per_s']:9.0f} {o['sent_late']:8} "
          f"{o['unsent']:8} {l['p50'] / 1000:8.2f} {l['p99'] / 1000:8.2f} {l['p999'] / 1000:9.2f} "
          f"{o['service_latency_us']['p99'] / 1000:12.2f}")
    if not d["invariants"]["pass"]:
        print("FAIL:", d["invariants"]["failures"])
PY
