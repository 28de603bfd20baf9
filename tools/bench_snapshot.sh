#!/usr/bin/env bash
# Snapshot benchmarks (issue: snapshots), one run on loopback with private data dirs:
#   1. a state of USERS users (default 1,000,000; 40 % of them with a first-come coupon, 10 %
#      with an order from `ecom-load mixed`);
#   2. restart by WAL replay alone: seconds to /readyz 200, and the replay rate;
#   3. POST /admin/snapshot on it: duration, bytes, the server's RSS before, at most during
#      (sampled every 20 ms) and after;
#   4. restart from that snapshot: seconds to ready, and the ratio to 2;
#   5. ecom-snapshot verify on the stopped dir: records/s;
#   6. ecom-load fcfs (64 connections) with a snapshot every second vs none, ROUNDS interleaved
#      rounds on fresh servers: requests/s and p99, and their ratios.
# Usage: [USERS=1000000] [MIXED_S=20] [FCFS_USERS=200000] [ROUNDS=2] tools/bench_snapshot.sh
set -euo pipefail
cd "$(dirname "$0")/.."
users=${USERS:-1000000}
fcfs_users=${FCFS_USERS:-200000}
rounds=${ROUNDS:-2}
bin=build/bin
[ -x $bin/ecomd ] && [ -x $bin/ecom-load ] && [ -x $bin/ecom-snapshot ] ||
  cmake --build build -j2 --target ecomd ecom-load ecom-snapshot
work=$(mktemp -d /tmp/ecomd-snapshot-bench.XXXXXX)
port=18531
token=bench-admin-token
pid=
cleanup() { [ -n "$pid" ] && kill -9 "$pid" 2>/dev/null; rm -rf "$work"; }
trap cleanup EXIT
url=http://127.0.0.1:$port

now() { date +%s.%N; }
# Starts ecomd on a dir; sets pid, and ready_s to the seconds from exec to /readyz 200.
start() {
  local dir=$1; shift
  local t0; t0=$(now)
  $bin/ecomd --data-dir "$dir" --port $port --admin-token $token --log-level info "$@" \
    >>"$work/ecomd.log" 2>&1 &
  pid=$!
  until curl -sf $url/readyz >/dev/null 2>&1; do sleep 0.005; done
  ready_s=$(echo "$(now) - $t0" | bc -l | xargs printf "%.3f")
}
stop_hard() { kill -9 "$pid"; wait "$pid" 2>/dev/null || true; pid=; }
stop_clean() { kill -TERM "$pid"; wait "$pid" 2>/dev/null || true; pid=; }
admin() { curl -sf -H "Authorization: Bearer $token" "$@"; }
stat() { admin $url/admin/stats | python3 -c "import json,sys; d=json.load(sys.stdin); s=d['shards']; print(sum(x['$1'] for x in s))"; }
rss_kb() { awk '/VmRSS/ {print $2}' /proc/"$pid"/status; }

echo "== building the state ($users users)"
state=$work/state
start "$state" --snapshot-every-records 0
coupons=$((users * 4 / 10))
orders_users=$((users / 10))
$bin/ecom-load fcfs --url $url --admin-token $token --users $coupons --quantity $coupons \
  --connections 64 --duration 600 --no-progress --json >"$work/fill-fcfs.json"
# Sessions repeat until --duration: 20 s make about 100k orders here.
$bin/ecom-load mixed --url $url --admin-token $token --users $orders_users --connections 64 \
  --popular-share 0 --duration "${MIXED_S:-20}" --no-progress --json >"$work/fill-mixed.json" || true
left=$((users - coupons - orders_users))
while [ $left -gt 0 ]; do
  n=$((left > 100000 ? 100000 : left))
  admin -X POST -H 'content-type: application/json' -d "{\"count\":$n,\"name_prefix\":\"bench\"}" \
    $url/admin/users/bulk >/dev/null
  left=$((left - n))
done
echo "users $(stat users), user coupons $(stat user_coupons), orders $(stat orders), WAL lsn $(admin $url/admin/stats | python3 -c "import json,sys; print(json.load(sys.stdin)['wal']['appended_lsn'])")"

echo "== restart by WAL replay alone"
stop_hard
start "$state" --snapshot-every-records 0
wal_ready=$ready_s
replay_line=$(grep 'recovery:' "$work/ecomd.log" | tail -1)
echo "ready in $wal_ready s: ${replay_line#*recovery: }"

echo "== POST /admin/snapshot"
rss_before=$(rss_kb)
echo "$rss_before" >"$work/rss_max"
touch "$work/sampling"
( max=0; while [ -e "$work/sampling" ]; do r=$(rss_kb 2>/dev/null || echo 0); [ "$r" -gt "$max" ] && max=$r && echo $max >"$work/rss_max"; sleep 0.02; done ) &
sampler=$!
snapshot=$(admin -X POST $url/admin/snapshot)
rm -f "$work/sampling"; wait $sampler 2>/dev/null || true
sleep 0.5
rss_after=$(rss_kb)
echo "$snapshot"
echo "RSS before $((rss_before / 1024)) MiB, at most $(( $(cat "$work/rss_max") / 1024 )) MiB during, $((rss_after / 1024)) MiB after"

echo "== restart from the snapshot"
stop_hard
start "$state" --snapshot-every-records 0
snap_ready=$ready_s
replay_line=$(grep 'recovery:' "$work/ecomd.log" | tail -1)
echo "ready in $snap_ready s: ${replay_line#*recovery: }"
echo "restart: WAL replay $wal_ready s, from snapshot $snap_ready s: $(echo "$wal_ready / $snap_ready" | bc -l | xargs printf '%.1f')x faster"
stop_clean

echo "== ecom-snapshot verify"
$bin/ecom-snapshot verify "$state" --json | python3 -c "import json,sys; d=json.load(sys.stdin); print('ok', d['ok'], 'records replayed', d['records_replayed'], 'in', d['seconds'], 's:', d['records_per_s'], 'records/s', '(snapshot + tail and a full replay)' if d['compared_with_full_replay'] else '')"
rm -rf "$state"

[ "${SKIP_FCFS:-0}" = 1 ] && exit 0
echo "== ecom-load fcfs, 64 connections, $fcfs_users users: a snapshot every second vs none"
fcfs() {  # label extra-args... -> "rps p99_ms snapshots"
  local label=$1; shift
  local dir=$work/fcfs-$label
  start "$dir" "$@"
  local out
  out=$($bin/ecom-load fcfs --url $url --admin-token $token --users "$fcfs_users" \
        --quantity "$fcfs_users" --connections 64 --duration 300 --no-progress --json)
  local taken; taken=$(grep -c 'committed' "$work/ecomd.log" || true)
  stop_clean
  rm -rf "$dir"
  echo "$out" | python3 -c "import json,sys; d=json.load(sys.stdin); assert d['invariants']['pass']; print(round(d['requests_per_s']), round(d['latency_us']['p99']/1000, 1))" | tr '\n' ' '
  echo "$taken"
}
printf "%-22s %10s %9s %10s\n" run requests/s p99_ms snapshots
for r in $(seq 1 "$rounds"); do
  : >"$work/ecomd.log"
  fcfs none --snapshot-every-records 0 >"$work/row"
  read -r none_rps none_p99 _ <"$work/row"
  : >"$work/ecomd.log"
  fcfs every-1s --snapshot-every-records 0 --snapshot-every-s 1 >"$work/row"
  read -r snap_rps snap_p99 snap_taken <"$work/row"
  printf "%-22s %10s %9s %10s\n" "round $r: none" "$none_rps" "$none_p99" 0
  printf "%-22s %10s %9s %10s\n" "round $r: every 1 s" "$snap_rps" "$snap_p99" "$snap_taken"
  echo "round $r ratios: throughput $(echo "$snap_rps / $none_rps" | bc -l | xargs printf '%.2f')x, p99 $(echo "$snap_p99 / $none_p99" | bc -l | xargs printf '%.2f')x"
done
