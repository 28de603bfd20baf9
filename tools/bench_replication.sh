#!/usr/bin/env bash
# Replication benchmark (issue 13). In one run, on loopback, with a private nats-server -js and
# private data dirs, --fsync always everywhere:
#   1. first-come issue (ecom-load fcfs, every request a durable issue) at 64 and 256
#      connections against a primary with no replication, with --replicate-to in `local` ack
#      mode and in `stream` ack mode, interleaved, ROUNDS rounds (default 3); medians of
#      requests/s, p50, p99, and of the ratios against the same round's no-replication run;
#   2. the lag of a standby under that flood (local mode, 256 connections): a sampler reads
#      X-Ecomd-Lsn of the primary and the standby every 5 ms: lag in records, and the delay
#      until the standby held an LSN the primary had (ms);
#   3. a standby's apply rate: a second standby restored from a backup taken before the flood
#      catches up with the whole stream; records per second;
#   4. ecom-load mixed with its reads on the standby (--read-url) vs all on the primary.
# Usage: [ROUNDS=3] tools/bench_replication.sh [users per fcfs run (default 100000)] [mixed seconds (10)]
set -euo pipefail
cd "$(dirname "$0")/.."
users="${1:-100000}" mixed_s="${2:-10}"
command -v nats-server >/dev/null || { echo "nats-server missing: tools/setup.sh installs it" >&2; exit 2; }
[ -x build/bin/ecomd ] && [ -x build/bin/ecom-load ] && [ -x build/bin/ecom-snapshot ] ||
  cmake --build build -j2 --target ecomd ecom-load ecom-snapshot
bin=build/bin
work=$(mktemp -d /tmp/ecomd-repl.XXXXXX)
nats_port=18791 p_port=18792 s_port=18793 s2_port=18794
pids=()
cleanup() {
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  sleep 0.3
  rm -rf "$work"
}
trap cleanup EXIT

nats-server -js -a 127.0.0.1 -p "$nats_port" -sd "$work/nats" >"$work/nats.log" 2>&1 &
pids+=($!)
for _ in $(seq 50); do (exec 3<>/dev/tcp/127.0.0.1/$nats_port) 2>/dev/null && break; sleep 0.1; done
nats="nats://127.0.0.1:$nats_port"

wait_ready() { for _ in $(seq 300); do curl -sf "http://127.0.0.1:$1/readyz" >/dev/null && return 0; sleep 0.1; done; echo "port $1 not ready" >&2; return 1; }
start() {  # port data-dir extra-flags... ; sets last_pid
  local port=$1 dir=$2; shift 2
  $bin/ecomd --port "$port" --data-dir "$dir" --admin-token bench --shards 2 --log-level warn "$@" \
    >"$dir.log" 2>&1 &
  last_pid=$!
  pids+=("$last_pid")
}
stop() { kill "$1" 2>/dev/null || true; wait "$1" 2>/dev/null || true; }

# ---- 1. fcfs issue: none / local / stream, ROUNDS rounds interleaved, medians -----------------
rounds="${ROUNDS:-3}"
run=0
for round in $(seq "$rounds"); do
  for conns in 64 256; do
    for mode in none local stream; do
      run=$((run + 1))
      flags=()
      [ "$mode" != none ] && flags=(--replicate-to "$nats" --replication-stream "bench$run" --replication-ack "$mode")
      start "$p_port" "$work/fcfs$run" "${flags[@]}"
      wait_ready "$p_port"
      $bin/ecom-load fcfs --url "http://127.0.0.1:$p_port" --admin-token bench --users "$users" \
        --quantity "$users" --connections "$conns" --no-progress --json \
        >"$work/fcfs-$conns-$mode-$round.json" 2>"$work/fcfs$run.err" || true
      stop "$last_pid"
      rm -rf "$work/fcfs$run"
    done
  done
done
python3 - "$work" "$rounds" "$users" <<'PY'
import json, statistics, sys
work, rounds, users = sys.argv[1], int(sys.argv[2]), sys.argv[3]
print(f"{'fcfs issue (' + users + ' users), median of ' + str(rounds):40} {'req/s':>9} {'p50 ms':>8} {'p99 ms':>8} {'ratio':>6}  ratios per round")
for conns in (64, 256):
    base = []
    for mode in ("none", "local", "stream"):
        runs = [json.load(open(f"{work}/fcfs-{conns}-{mode}-{r}.json")) for r in range(1, rounds + 1)]
        rps = [d["requests_per_s"] for d in runs]
        if mode == "none": base = rps
        ratios = [a / b for a, b in zip(rps, base)]
        ok = all(d["invariants"]["pass"] for d in runs)
        med = lambda key: statistics.median(d["latency_us"][key] / 1000 for d in runs)
        print(f"{str(conns) + ' conns, ' + mode:40} {statistics.median(rps):9.0f} {med('p50'):8.2f} {med('p99'):8.2f} "
              f"{statistics.median(ratios):6.2f}  {' '.join(f'{x:.2f}' for x in ratios)}"
              + ("" if ok else "  INVARIANTS FAILED"))
PY

# ---- 2. lag under the flood, 3. apply rate -------------------------------------------------
echo
start "$p_port" "$work/lagp" --replicate-to "$nats" --replication-stream lag
primary=$last_pid
wait_ready "$p_port"
$bin/ecom-snapshot backup "$work/lagp" --out "$work/backup" --url "http://127.0.0.1:$p_port" \
  --admin-token bench >/dev/null
$bin/ecom-snapshot restore "$work/backup" --to "$work/lags" >/dev/null
$bin/ecom-snapshot restore "$work/backup" --to "$work/lags2" >/dev/null
start "$s_port" "$work/lags" --follow "$nats" --replication-stream lag
wait_ready "$s_port"
lsn_of() { curl -s -D - -o /dev/null "http://127.0.0.1:$1/healthz" | tr -d '\r' | awk -F': ' 'tolower($1)=="x-ecomd-lsn" {print $2}'; }
base=$(lsn_of "$s_port")  # what the backup holds
python3 - "$p_port" "$s_port" "$work/lag.txt" <<'PY' &
import http.client, sys, time
p, s, out = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
def lsn(port):
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
    c.request("GET", "/healthz"); r = c.getresponse(); r.read()
    return int(r.getheader("X-Ecomd-Lsn", "0"))
lags, delays, pending = [], [], []
end = time.time() + 600
with open(out + ".stop", "w"): pass
import os
while os.path.exists(out + ".stop") and time.time() < end:
    t = time.time(); pl = lsn(p); sl = lsn(s)
    lags.append(max(0, pl - sl)); pending.append((t, pl))
    while pending and pending[0][1] <= sl:
        delays.append((time.time() - pending.pop(0)[0]) * 1000)
    time.sleep(0.005)
def pct(v, q): v = sorted(v); return v[min(len(v) - 1, int(q / 100 * len(v)))] if v else float("nan")
with open(out, "w") as f:
    f.write(f"{len(lags)} samples: lag records p50 {pct(lags,50)} p99 {pct(lags,99)} max {max(lags or [0])}; "
            f"delay ms p50 {pct(delays,50):.1f} p99 {pct(delays,99):.1f}\n")
PY
sampler=$!
sleep 0.3
$bin/ecom-load fcfs --url "http://127.0.0.1:$p_port" --admin-token bench --users "$users" \
  --quantity "$users" --connections 256 --no-progress --json >"$work/lagfcfs.json" 2>/dev/null || true
sleep 1
rm -f "$work/lag.txt.stop"; wait "$sampler" || true
echo "standby lag under fcfs (local mode, 256 connections, $(python3 -c 'import json,sys; print(round(json.load(open(sys.argv[1]))["requests_per_s"]))' "$work/lagfcfs.json") req/s):"
echo "  $(cat "$work/lag.txt")"
target=$(lsn_of "$p_port")
t0=$(date +%s.%N)
start "$s2_port" "$work/lags2" --follow "$nats" --replication-stream lag
wait_ready "$s2_port"
t1=$(date +%s.%N)
python3 -c "
t=$t1-$t0; n=$target-$base
print(f'apply rate: a standby from a backup at lsn {$base} caught up with lsn {$target} in {t:.2f} s (start-up included): {n/t:,.0f} records/s')"
stop "$last_pid"

# ---- 4. mixed: reads on the standby vs on the primary --------------------------------------
echo
# The same traffic both times (--read-url adds a read-your-writes order read per session):
# the baseline names the primary itself as its read server.
for where in primary standby; do
  port=$p_port
  [ "$where" = standby ] && port=$s_port
  $bin/ecom-load mixed --url "http://127.0.0.1:$p_port" --admin-token bench --users 2000 \
    --duration "$mixed_s" --no-progress --read-url "http://127.0.0.1:$port" \
    >"$work/mixed-$where.txt" 2>&1 || true
  echo "== mixed, reads on the $where"
  grep -E "requests:|^browse|^popular|^order_read|^invariants|^reads|^http" "$work/mixed-$where.txt" ||
    cat "$work/mixed-$where.txt"
done
